package config

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// toolhiveConfigs holds the ToolHive Registry Server's own example
// configurations, shared beside the repository and never copied into it.
const toolhiveConfigs = "../../../shared/testdata/toolhive-configs"

func toolhiveConfigFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(toolhiveConfigs, "config-*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Skipf("no ToolHive Registry Server configurations in %s: the shared test data is not laid out beside this checkout", toolhiveConfigs)
	}
	return files
}

// toolhiveExpectation derives, independently of Parse, what loading a
// ToolHive Registry Server configuration must report: one warning per
// ignored section, per non-synced source and per registry that lists one,
// plus the reference's
// git.auth.passwordFile checks where a file names one. Git, api, file.path
// and file.url sources load.
func toolhiveExpectation(t *testing.T, data []byte) (wantErrs, wantWarnings []string) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	top := doc.Content[0]
	for i := 0; i < len(top.Content); i += 2 {
		if k := top.Content[i].Value; slices.Contains(ignoredSections, k) {
			wantWarnings = append(wantWarnings, fmt.Sprintf("ignoring section %q: regsync does not use it", k))
		}
	}

	var file struct {
		Sources []struct {
			Name string `yaml:"name"`
			Git  *struct {
				Auth *struct {
					PasswordFile string `yaml:"passwordFile"`
				} `yaml:"auth"`
			} `yaml:"git"`
			API  *struct{} `yaml:"api"`
			File *struct {
				URL string `yaml:"url"`
			} `yaml:"file"`
			Managed    *struct{} `yaml:"managed"`
			Kubernetes *struct{} `yaml:"kubernetes"`
		} `yaml:"sources"`
		Registries []struct {
			Name    string   `yaml:"name"`
			Sources []string `yaml:"sources"`
		} `yaml:"registries"`
	}
	if err := yaml.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	for i, s := range file.Sources {
		p := fmt.Sprintf("source[%d] (%s)", i, s.Name)
		switch {
		case s.Git != nil:
			if s.Git.Auth != nil && s.Git.Auth.PasswordFile != "" {
				pf := s.Git.Auth.PasswordFile
				if !filepath.IsAbs(pf) {
					wantErrs = append(wantErrs, p+": git.auth.passwordFile must be an absolute path")
				} else if _, err := os.Stat(pf); err != nil {
					wantErrs = append(wantErrs, fmt.Sprintf("%s: git.auth.passwordFile is not accessible: %v", p, err))
				}
			}
		case s.Managed != nil:
			wantWarnings = append(wantWarnings, fmt.Sprintf("source %q (managed) is not synced by regsync", s.Name))
		case s.Kubernetes != nil:
			wantWarnings = append(wantWarnings, fmt.Sprintf("source %q (kubernetes) is not synced by regsync", s.Name))
		}
	}
	for _, r := range file.Registries {
		for _, name := range r.Sources {
			for _, s := range file.Sources {
				switch {
				case s.Name != name:
				case s.Managed != nil:
					wantWarnings = append(wantWarnings, fmt.Sprintf("registry %q: source %q (managed) is not synced by regsync and adds no entries to it", r.Name, name))
				case s.Kubernetes != nil:
					wantWarnings = append(wantWarnings, fmt.Sprintf("registry %q: source %q (kubernetes) is not synced by regsync and adds no entries to it", r.Name, name))
				}
			}
		}
	}
	return wantErrs, wantWarnings
}

// toolhiveRegistries reads the registries section of a ToolHive Registry
// Server configuration, independently of Parse.
func toolhiveRegistries(t *testing.T, data []byte) []Registry {
	t.Helper()
	var file struct {
		Registries []struct {
			Name    string   `yaml:"name"`
			Sources []string `yaml:"sources"`
		} `yaml:"registries"`
	}
	if err := yaml.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	var out []Registry
	for _, r := range file.Registries {
		out = append(out, Registry{Name: r.Name, Sources: r.Sources})
	}
	return out
}

// TestToolHiveConfigs loads every example configuration of the ToolHive
// Registry Server unchanged: file, git, managed and kubernetes sources
// load, and so do api and file.url sources.
func TestToolHiveConfigs(t *testing.T) {
	for _, path := range toolhiveConfigFiles(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			wantErrs, wantWarnings := toolhiveExpectation(t, data)

			cfg, warnings, err := Load(path)
			if err == nil {
				if ferr := cfg.CheckFiles(); ferr != nil {
					cfg, err = nil, fmt.Errorf("load config %s: %w", path, ferr)
				}
			}
			equalLists(t, "warnings", warnings, wantWarnings)
			if len(wantErrs) == 0 {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if len(cfg.Sources) == 0 {
					t.Error("no sources loaded")
				}
				// Its registries are honoured, in file order with their
				// sources in order.
				want := toolhiveRegistries(t, data)
				got := cfg.EffectiveRegistries()
				if len(want) == 0 || len(got) != len(want) {
					t.Fatalf("registries = %+v, want %+v", got, want)
				}
				for i := range want {
					if got[i].Name != want[i].Name || !slices.Equal(got[i].Sources, want[i].Sources) {
						t.Errorf("registries[%d] = %+v, want %+v", i, got[i], want[i])
					}
				}
				return
			}
			if cfg != nil {
				t.Error("Load returned a config along with errors")
			}
			if err == nil || !strings.HasPrefix(err.Error(), "load config "+path+": ") {
				t.Fatalf("err = %v, want it wrapped with the path", err)
			}
			equalLists(t, "problems", problems(t, err), wantErrs)
		})
	}
}

// TestToolHiveGitConfigsLoad checks that the ToolHive Registry Server's
// configurations whose synced sources are all git load cleanly, with their
// git settings intact.
func TestToolHiveGitConfigsLoad(t *testing.T) {
	checked := 0
	for _, path := range toolhiveConfigFiles(t) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var file struct {
			Sources []map[string]any `yaml:"sources"`
		}
		if err := yaml.Unmarshal(data, &file); err != nil {
			t.Fatal(err)
		}
		gitOnly, hasGit := true, false
		for _, s := range file.Sources {
			_, isGit := s["git"]
			_, isAPI := s["api"]
			_, isFile := s["file"]
			hasGit = hasGit || isGit
			gitOnly = gitOnly && !isAPI && !isFile
		}
		if !hasGit || !gitOnly {
			continue
		}
		checked++
		t.Run(filepath.Base(path), func(t *testing.T) {
			cfg, _, err := Load(path)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			for _, s := range cfg.SyncedSources() {
				if s.Git == nil || s.Git.Repository != "https://github.com/stacklok/toolhive-catalog.git" || s.Git.Path == "" {
					t.Errorf("source %s: git = %+v", s.Name, s.Git)
				}
				if s.Git.Branch == "" && s.Git.Tag == "" && s.Git.Commit == "" {
					t.Errorf("source %s: no ref", s.Name)
				}
			}
		})
	}
	if checked == 0 {
		t.Fatal("no ToolHive configuration has only git sources")
	}
}

// TestToolHiveConfigsAllLoad holds every example configuration of the
// ToolHive Registry Server to loading without an error, api and file.url
// sources included.
func TestToolHiveConfigsAllLoad(t *testing.T) {
	for _, path := range toolhiveConfigFiles(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			cfg, _, err := Load(path)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if len(cfg.Sources) == 0 {
				t.Error("no sources loaded")
			}
		})
	}
}
