package config

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

const (
	repoRoot   = "../.."
	schemaFile = "../../schemas/config.schema.json"
	schemaID   = "urn:regsync:schema:config.schema"
)

func exampleFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "examples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no examples/*.yaml")
	}
	return files
}

func TestExamplesLoad(t *testing.T) {
	for _, path := range exampleFiles(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			cfg, warnings, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(warnings) != 0 {
				t.Errorf("warnings: %q", warnings)
			}
			for _, s := range cfg.Sources {
				// Paths in the examples are relative to the repository
				// root, where regsync is run from.
				if s.File != nil && s.File.Path != "" {
					if _, err := os.Stat(filepath.Join(repoRoot, s.File.Path)); err != nil {
						t.Errorf("source %s: %v", s.Name, err)
					}
				}
			}
		})
	}
}

func TestQuickstartExample(t *testing.T) {
	cfg, _, err := Load(filepath.Join(repoRoot, "examples", "quickstart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Sources) != 1 {
		t.Fatalf("%d sources, want 1", len(cfg.Sources))
	}
	s := cfg.Sources[0]
	if s.Name != "quickstart" || s.Type() != TypeFile || s.File.Path != "examples/quickstart-registry.json" || s.Interval() != 30*time.Minute {
		t.Errorf("source = %s %s %+v %v", s.Name, s.Type(), s.File, s.Interval())
	}
	if s.Filter == nil {
		t.Error("no filter")
	}
}

// TestFullExampleShowsDefaults checks that examples/full.yaml, which
// spells out every option, holds the defaults.
func TestFullExampleShowsDefaults(t *testing.T) {
	cfg, _, err := Load(filepath.Join(repoRoot, "examples", "full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	cfg.Sources = nil
	if got, want := yamlString(t, cfg), yamlString(t, want); got != want {
		t.Errorf("full.yaml differs from the defaults:\n%s\nwant:\n%s", got, want)
	}

	// And it names every key of every section.
	var doc map[string]any
	data, err := os.ReadFile(filepath.Join(repoRoot, "examples", "full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var defaults map[string]any
	if err := yaml.Unmarshal([]byte(yamlString(t, want)), &defaults); err != nil {
		t.Fatal(err)
	}
	delete(defaults, "sources")
	missingKeys(t, "", defaults, doc)
}

func yamlString(t *testing.T, v any) string {
	t.Helper()
	out, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// missingKeys reports the keys of want that got lacks, recursively.
func missingKeys(t *testing.T, path string, want, got map[string]any) {
	t.Helper()
	for k, wv := range want {
		gv, ok := got[k]
		if !ok {
			t.Errorf("full.yaml lacks %s%s", path, k)
			continue
		}
		if wm, ok := wv.(map[string]any); ok {
			gm, _ := gv.(map[string]any)
			missingKeys(t, path+k+".", wm, gm)
		}
	}
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	data, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v", schemaFile, err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(schemaID, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(schemaID)
	if err != nil {
		t.Fatalf("compile %s: %v", schemaFile, err)
	}
	return s
}

// yamlToJSON converts a YAML document to the value the schema validator
// takes, through JSON.
func yamlToJSON(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestExamplesMatchSchema(t *testing.T) {
	schema := compileSchema(t)
	for _, path := range exampleFiles(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := schema.Validate(yamlToJSON(t, data)); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestToolHiveConfigsMatchSchema(t *testing.T) {
	schema := compileSchema(t)
	for _, path := range toolhiveConfigFiles(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := schema.Validate(yamlToJSON(t, data)); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestSchemaRejectsWhatLoadRejects(t *testing.T) {
	schema := compileSchema(t)
	tests := []struct {
		name string
		yaml string
	}{
		{"no sources", "dataDir: ./data\n"},
		{"unknown top-level key", fileSource + "foo: 1\n"},
		{"unknown source key", "sources: [{name: s, file: {path: r}, syncPolicy: {interval: 5m}, type: file}]\n"},
		{"two source types", "sources: [{name: s, file: {path: r}, managed: {}, syncPolicy: {interval: 5m}}]\n"},
		{"no source type", "sources: [{name: s, syncPolicy: {interval: 5m}}]\n"},
		{"synced source without interval", "sources: [{name: s, file: {path: r}}]\n"},
		{"name not a DNS label", "sources: [{name: My_Source, file: {path: r}, syncPolicy: {interval: 5m}}]\n"},
		{"file path and url", "sources: [{name: s, file: {path: r, url: 'https://x/r'}, syncPolicy: {interval: 5m}}]\n"},
		{"git branch and tag", "sources: [{name: s, git: {repository: r, branch: main, tag: v1}, syncPolicy: {interval: 5m}}]\n"},
		{"git path climbing out", "sources: [{name: s, git: {repository: r, path: a/../../b.json}, syncPolicy: {interval: 5m}}]\n"},
		{"git path absolute", "sources: [{name: s, git: {repository: r, path: /etc/passwd}, syncPolicy: {interval: 5m}}]\n"},
		{"git ssh key relative", "sources: [{name: s, git: {repository: 'git@h:o/r', auth: {sshKeyFile: id}}, syncPolicy: {interval: 5m}}]\n"},
		{"git ssh key and password", "sources: [{name: s, git: {repository: 'git@h:o/r', auth: {username: u, passwordFile: /p, sshKeyFile: /k}}, syncPolicy: {interval: 5m}}]\n"},
		{"bad duration", fileSource + "watch: {debounce: fast}\n"},
		{"replicas out of range", fileSource + "nats: {replicas: 7}\n"},
		{"bad nats url", fileSource + "nats: {url: 'http://a:4222'}\n"},
		{"webhook secret file and env", fileSource + "webhooks: {github: {secretFile: /s, secretEnv: GH}}\n"},
		{"bad size", fileSource + "sync: {maxDataSize: lots}\n"},
		{"registry without name", fileSource + "registries: [{sources: [local]}]\n"},
		{"registry without sources", fileSource + "registries: [{name: r, sources: []}]\n"},
		{"registry name not a DNS label", fileSource + "registries: [{name: Team_R, sources: [local]}]\n"},
		{"registry source listed twice", fileSource + "registries: [{name: r, sources: [local, local]}]\n"},
		{"registry with a filter", fileSource + "registries: [{name: r, sources: [local], filter: {}}]\n"},
		{"registry claim of a number", fileSource + "registries: [{name: r, sources: [local], claims: {n: 1}}]\n"},
		{"api addr of a number", fileSource + "api: {addr: 8081}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := Parse([]byte(tt.yaml)); err == nil {
				t.Errorf("Parse accepted it")
			}
			if err := schema.Validate(yamlToJSON(t, []byte(tt.yaml))); err == nil {
				t.Errorf("schema accepted it")
			}
		})
	}
}

// TestQuickstartRegistry checks the example registry against the rules of
// the upstream registry format that a reader can see at a glance.
func TestQuickstartRegistry(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "examples", "quickstart-registry.json"))
	if err != nil {
		t.Fatal(err)
	}
	var reg struct {
		Schema  string `json:"$schema"`
		Version string `json:"version"`
		Meta    struct {
			LastUpdated string `json:"last_updated"`
		} `json:"meta"`
		Data struct {
			Servers []struct {
				Name        string `json:"name"`
				Description string `json:"description"`
				Version     string `json:"version"`
				Packages    []struct {
					RegistryType string `json:"registryType"`
					Identifier   string `json:"identifier"`
					Transport    struct {
						Type string `json:"type"`
					} `json:"transport"`
				} `json:"packages"`
				Meta map[string]map[string]map[string]struct {
					Status string   `json:"status"`
					Tags   []string `json:"tags"`
				} `json:"_meta"`
			} `json:"servers"`
		} `json:"data"`
	}
	if err := json.Unmarshal(data, &reg); err != nil {
		t.Fatal(err)
	}
	if reg.Version != "1.0.0" || reg.Schema == "" {
		t.Errorf("version %q, $schema %q", reg.Version, reg.Schema)
	}
	if _, err := time.Parse(time.RFC3339, reg.Meta.LastUpdated); err != nil {
		t.Errorf("meta.last_updated: %v", err)
	}
	if n := len(reg.Data.Servers); n < 4 || n > 5 {
		t.Errorf("%d servers, want 4 or 5", n)
	}
	name := regexp.MustCompile(`^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+$`)
	tag := regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*[a-z0-9]$`)
	for _, s := range reg.Data.Servers {
		if !name.MatchString(s.Name) {
			t.Errorf("server name %q", s.Name)
		}
		if s.Description == "" || len(s.Description) > 100 {
			t.Errorf("%s: description of %d characters", s.Name, len(s.Description))
		}
		if s.Version == "" || len(s.Packages) == 0 {
			t.Errorf("%s: no version or packages", s.Name)
		}
		for _, p := range s.Packages {
			if p.RegistryType == "" || p.Identifier == "" || p.Transport.Type != "stdio" {
				t.Errorf("%s: package %+v", s.Name, p)
			}
			ext, ok := s.Meta["io.modelcontextprotocol.registry/publisher-provided"]["io.github.stacklok"][p.Identifier]
			if !ok {
				t.Errorf("%s: no publisher-provided extensions for %s", s.Name, p.Identifier)
				continue
			}
			if ext.Status != "active" && ext.Status != "deprecated" {
				t.Errorf("%s: status %q", s.Name, ext.Status)
			}
			for _, tg := range ext.Tags {
				if !tag.MatchString(tg) {
					t.Errorf("%s: tag %q", s.Name, tg)
				}
			}
		}
	}
}
