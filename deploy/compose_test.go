package deploy

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/regsync/regsync/internal/config"
)

// composeService is the part of the Compose specification's service that
// compose.yaml uses; decoding it with known fields only rejects typos.
type composeService struct {
	Image       string            `yaml:"image"`
	Build       map[string]string `yaml:"build"`
	Hostname    string            `yaml:"hostname"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Tmpfs       []string          `yaml:"tmpfs"`
	Ports       []string          `yaml:"ports"`
	ReadOnly    bool              `yaml:"read_only"`
	CapDrop     []string          `yaml:"cap_drop"`
	SecurityOpt []string          `yaml:"security_opt"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Restart     string `yaml:"restart"`
	Healthcheck *struct {
		Test     []string `yaml:"test"`
		Interval string   `yaml:"interval"`
		Timeout  string   `yaml:"timeout"`
		Retries  int      `yaml:"retries"`
	} `yaml:"healthcheck"`
}

type composeFile struct {
	Name     string                    `yaml:"name"`
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
	// Extension fields (x-...) hold the anchors the services merge.
	Extensions map[string]any `yaml:",inline"`
}

func TestComposeCluster(t *testing.T) {
	const dir = "compose"
	b, err := os.ReadFile(filepath.Join(dir, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	for k := range f.Extensions {
		if !strings.HasPrefix(k, "x-") {
			t.Errorf("unknown top-level key %q", k)
		}
	}

	var natsNodes, regsyncs []string
	for name, s := range f.Services {
		if !s.ReadOnly || !slices.Contains(s.CapDrop, "ALL") || !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
			t.Errorf("%s: not read-only, without all capabilities dropped and no-new-privileges", name)
		}
		// Every bind mount's source exists, relative to compose.yaml.
		mounts := map[string]string{}
		for _, v := range s.Volumes {
			parts := strings.Split(v, ":")
			if len(parts) < 2 {
				t.Errorf("%s: volume %q", name, v)
				continue
			}
			mounts[parts[1]] = parts[0]
			if strings.HasPrefix(parts[0], ".") {
				if _, err := os.Stat(filepath.Join(dir, parts[0])); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			} else if _, ok := f.Volumes[parts[0]]; !ok {
				t.Errorf("%s: volume %s is not declared", name, parts[0])
			}
		}
		switch {
		case strings.HasPrefix(name, "nats-"):
			natsNodes = append(natsNodes, name)
			if s.Environment["NATS_SERVER_NAME"] != name || s.Hostname != name {
				t.Errorf("%s: server name %q, host name %q", name, s.Environment["NATS_SERVER_NAME"], s.Hostname)
			}
			if mounts["/etc/nats/nats.conf"] != "./nats.conf" || mounts["/etc/nats/auth.conf"] != "../nats/auth.conf" {
				t.Errorf("%s: mounts %v, want nats.conf with ../nats/auth.conf beside it", name, mounts)
			}
			if s.Healthcheck == nil || !slices.ContainsFunc(s.Healthcheck.Test, func(a string) bool { return strings.Contains(a, "127.0.0.1:8222/healthz") }) {
				t.Errorf("%s: no health check on the loopback monitoring port", name)
			}
		case strings.HasPrefix(name, "regsync-"):
			regsyncs = append(regsyncs, name)
			if s.Build["dockerfile"] != "deploy/Containerfile" {
				t.Errorf("%s: built from %v", name, s.Build)
			}
			for node := range f.Services {
				if strings.HasPrefix(node, "nats-") && s.DependsOn[node].Condition != "service_healthy" {
					t.Errorf("%s does not wait for %s to be healthy", name, node)
				}
			}
			checkComposeRegsync(t, dir, name, s, mounts, f.Services)
		default:
			t.Errorf("unexpected service %s", name)
		}
	}
	if len(natsNodes) != 3 || len(regsyncs) != 2 {
		t.Errorf("%d NATS nodes and %d regsync replicas, want 3 and 2", len(natsNodes), len(regsyncs))
	}
}

// checkComposeRegsync loads a regsync service's configuration and checks it
// reaches every NATS node with the password those nodes expect.
func checkComposeRegsync(t *testing.T, dir, name string, s composeService, mounts map[string]string, services map[string]composeService) {
	t.Helper()
	i := slices.Index(s.Command, "--config")
	if i < 0 || i+1 >= len(s.Command) {
		t.Fatalf("%s: command %v has no --config", name, s.Command)
	}
	src, ok := mounts[s.Command[i+1]]
	if !ok {
		t.Fatalf("%s: --config %s is not mounted", name, s.Command[i+1])
	}
	data, err := os.ReadFile(filepath.Join(dir, src))
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Parse(data)
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	if cfg.NATS.Replicas != 3 {
		t.Errorf("%s: nats.replicas %d, want 3", src, cfg.NATS.Replicas)
	}
	for node, ns := range services {
		if !strings.HasPrefix(node, "nats-") {
			continue
		}
		if !strings.Contains(cfg.NATS.URL, "nats://"+node+":4222") {
			t.Errorf("%s: nats.url %s does not list %s", src, cfg.NATS.URL, node)
		}
		if s.Environment["REGSYNC_NATS_PASSWORD"] != ns.Environment["REGSYNC_PASSWORD"] {
			t.Errorf("%s's NATS password is not the one %s expects", name, node)
		}
	}
	if s.Environment["REGSYNC_NATS_USER"] != "regsync" {
		t.Errorf("%s: NATS user %q, want regsync (nats/auth.conf)", name, s.Environment["REGSYNC_NATS_USER"])
	}
	for _, p := range cfg.Sources {
		if p.File != nil && p.File.Path != "" {
			if _, ok := mounts[p.File.Path]; !ok {
				t.Errorf("%s: source %s reads %s, which is not mounted", name, p.Name, p.File.Path)
			}
		}
	}
	if !slices.Contains(s.Tmpfs, cfg.DataDir) {
		t.Errorf("%s: dataDir %s is not writable (read-only root)", name, cfg.DataDir)
	}
}
