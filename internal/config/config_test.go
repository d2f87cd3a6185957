package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// fileSource is a valid source, for configurations whose point is elsewhere.
const fileSource = `
sources:
  - name: local
    file: {path: registry.json}
    syncPolicy: {interval: 30m}
`

// problems returns the problems an error lists, one string each.
func problems(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		return []string{err.Error()}
	}
	out := make([]string, len(ve.Errs))
	for i, e := range ve.Errs {
		out[i] = e.Error()
	}
	return out
}

// mustParse parses a configuration that must be valid.
func mustParse(t *testing.T, src string) (*Config, []string) {
	t.Helper()
	cfg, warnings, err := Parse([]byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return cfg, warnings
}

func equalLists(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\ngot  %d:\n  %s\nwant %d:\n  %s", what, len(got), strings.Join(got, "\n  "), len(want), strings.Join(want, "\n  "))
	}
}

func TestDefaultsApplied(t *testing.T) {
	cfg, warnings := mustParse(t, fileSource)
	if len(warnings) != 0 {
		t.Errorf("warnings = %q, want none", warnings)
	}
	want := Default()
	want.Sources = cfg.Sources
	checks := []struct {
		name      string
		got, want any
	}{
		{"dataDir", cfg.DataDir, "./data"},
		{"nats.url", cfg.NATS.URL, ""},
		{"nats.replicas", cfg.NATS.Replicas, 1},
		{"nats.embedded.storeDir", cfg.NATS.Embedded.StoreDir, ""},
		{"nats.embedded.listen", cfg.NATS.Embedded.Listen, "127.0.0.1:4222"},
		{"http.addr", cfg.HTTP.Addr, "127.0.0.1:8080"},
		{"watch.debounce", cfg.Watch.Debounce, Duration(50 * time.Millisecond)},
		{"watch.gitPollInterval", cfg.Watch.GitPollInterval, Duration(30 * time.Second)},
		{"watch.httpPollInterval", cfg.Watch.HTTPPollInterval, Duration(5 * time.Minute)},
		{"sync.workers", cfg.Sync.Workers, 4},
		{"sync.timeout", cfg.Sync.Timeout, Duration(2 * time.Minute)},
		{"sync.maxDataSize", cfg.Sync.MaxDataSize, ByteSize(512 << 20)},
		{"sync.leaseTTL", cfg.Sync.LeaseTTL, Duration(15 * time.Second)},
		{"webhooks.github enabled", cfg.Webhooks.GitHub.Enabled(), false},
		{"webhooks.gitlab enabled", cfg.Webhooks.GitLab.Enabled(), false},
		{"embedded store dir", cfg.EmbeddedStoreDir(), filepath.Join("data", "jetstream")},
		{"whole config", fmt.Sprintf("%+v", *cfg), fmt.Sprintf("%+v", *want)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestExplicitValuesOverrideDefaults(t *testing.T) {
	cfg, _ := mustParse(t, fileSource+`
dataDir: /var/lib/regsync
nats:
  url: nats://a:4222, tls://b:4222
  replicas: 3
  embedded: {storeDir: /srv/js}
http: {addr: ":9090"}
watch: {debounce: 200ms, gitPollInterval: 1m, httpPollInterval: 10m}
webhooks:
  github: {secretEnv: GITHUB_WEBHOOK_SECRET}
  gitlab: {tokenFile: /run/secrets/gitlab}
sync: {workers: 8, timeout: 30s, maxDataSize: 100MB, leaseTTL: 5s}
`)
	checks := []struct {
		name      string
		got, want any
	}{
		{"dataDir", cfg.DataDir, "/var/lib/regsync"},
		{"nats urls", strings.Join(cfg.NATS.URLs(), "|"), "nats://a:4222|tls://b:4222"},
		{"nats.replicas", cfg.NATS.Replicas, 3},
		{"embedded store dir", cfg.EmbeddedStoreDir(), "/srv/js"},
		{"nats.embedded.listen keeps its default", cfg.NATS.Embedded.Listen, Default().NATS.Embedded.Listen},
		{"http.addr", cfg.HTTP.Addr, ":9090"},
		{"watch.debounce", cfg.Watch.Debounce, Duration(200 * time.Millisecond)},
		{"watch.gitPollInterval", cfg.Watch.GitPollInterval, Duration(time.Minute)},
		{"watch.httpPollInterval", cfg.Watch.HTTPPollInterval, Duration(10 * time.Minute)},
		{"webhooks.github enabled", cfg.Webhooks.GitHub.Enabled(), true},
		{"webhooks.gitlab enabled", cfg.Webhooks.GitLab.Enabled(), true},
		{"webhooks.gitea enabled", cfg.Webhooks.Gitea.Enabled(), false},
		{"sync.workers", cfg.Sync.Workers, 8},
		{"sync.timeout", cfg.Sync.Timeout, Duration(30 * time.Second)},
		{"sync.maxDataSize", cfg.Sync.MaxDataSize, ByteSize(100_000_000)},
		{"sync.leaseTTL", cfg.Sync.LeaseTTL, Duration(5 * time.Second)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestEmbeddedListen(t *testing.T) {
	tests := []struct {
		name string
		nats string
		want string
	}{
		{"unset means the default listener", "", Default().NATS.Embedded.Listen},
		{"section without listen means the default listener", "nats: {embedded: {storeDir: /tmp/js}}", Default().NATS.Embedded.Listen},
		{"null means the default listener", "nats: {embedded: {listen: null}}", Default().NATS.Embedded.Listen},
		{"empty string means no listener", `nats: {embedded: {listen: ""}}`, ""},
		{"an address is kept", "nats: {embedded: {listen: 0.0.0.0:4333}}", "0.0.0.0:4333"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _ := mustParse(t, fileSource+tt.nats)
			if got := cfg.NATS.Embedded.Listen; got != tt.want {
				t.Errorf("listen = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSecretsRedacted(t *testing.T) {
	const password, token = "hunter2-password", "s3cr3t-token"
	cfg, _ := mustParse(t, fileSource+`
nats:
  url: nats://nats.example.com:4222
  user: regsync
  password: `+password+`
`)
	cfgToken, _ := mustParse(t, fileSource+`
nats:
  url: nats://nats.example.com:4222
  token: `+token+`
`)
	if got := cfg.NATS.Password.Reveal(); got != password {
		t.Fatalf("Reveal() = %q, want the password", got)
	}
	if got := cfgToken.NATS.Token.Reveal(); got != token {
		t.Fatalf("Reveal() = %q, want the token", got)
	}

	var textLog, jsonLog bytes.Buffer
	slog.New(slog.NewTextHandler(&textLog, nil)).Info("start", "nats", cfg.NATS, "config", cfg, "token_nats", cfgToken.NATS)
	slog.New(slog.NewJSONHandler(&jsonLog, nil)).Info("start", "nats", cfg.NATS, "config", cfg, "password", cfg.NATS.Password, "token", cfgToken.NATS.Token)
	jsonConfig, err := json.Marshal(cfgToken)
	if err != nil {
		t.Fatal(err)
	}
	yamlConfig, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}

	outputs := map[string]string{
		"fmt.Sprint(config)":      fmt.Sprint(*cfg) + fmt.Sprint(*cfgToken),
		"fmt.Sprintf(%+v)":        fmt.Sprintf("%+v %+v", cfg.NATS, cfgToken.NATS),
		"fmt.Sprintf(%#v)":        fmt.Sprintf("%#v %#v", cfg.NATS, cfgToken.NATS),
		"fmt.Sprintf(%s %q %x)":   fmt.Sprintf("%s %q %x", cfg.NATS.Password, cfgToken.NATS.Token, cfg.NATS.Password),
		"slog text handler":       textLog.String(),
		"slog json handler":       jsonLog.String(),
		"json.Marshal(config)":    string(jsonConfig),
		"yaml.Marshal(config)":    string(yamlConfig),
		"fmt.Sprint(token alone)": fmt.Sprint(cfgToken.NATS.Token),
	}
	for name, out := range outputs {
		t.Run(name, func(t *testing.T) {
			if strings.Contains(out, password) || strings.Contains(out, token) {
				t.Errorf("secret printed:\n%s", out)
			}
			if !strings.Contains(out, redacted) {
				t.Errorf("no %s marker in:\n%s", redacted, out)
			}
		})
	}
	t.Run("empty secret prints empty", func(t *testing.T) {
		if got := fmt.Sprint(Secret("")); got != "" {
			t.Errorf("Sprint(empty) = %q, want empty", got)
		}
	})
	t.Run("user name is not secret", func(t *testing.T) {
		if !strings.Contains(textLog.String(), "regsync") {
			t.Errorf("user name missing from log:\n%s", textLog.String())
		}
	})
}

func TestSourceMethods(t *testing.T) {
	tests := []struct {
		name         string
		source       Source
		wantType     string
		wantSynced   bool
		wantInterval time.Duration
		wantPoll     time.Duration
	}{
		{"git", Source{Git: &Git{PollInterval: Duration(time.Minute)}, SyncPolicy: &SyncPolicy{Interval: Duration(30 * time.Minute)}}, "git", true, 30 * time.Minute, time.Minute},
		{"api", Source{API: &API{}, SyncPolicy: &SyncPolicy{Interval: Duration(time.Hour)}}, "api", true, time.Hour, 0},
		{"file", Source{File: &File{Path: "r.json"}, SyncPolicy: &SyncPolicy{Interval: Duration(5 * time.Minute)}}, "file", true, 5 * time.Minute, 0},
		{"file url", Source{File: &File{URL: "https://x", PollInterval: Duration(2 * time.Minute)}, SyncPolicy: &SyncPolicy{Interval: Duration(5 * time.Minute)}}, "file", true, 5 * time.Minute, 2 * time.Minute},
		{"managed", Source{Managed: &Managed{}}, "managed", false, 0, 0},
		{"kubernetes", Source{Kubernetes: &Kubernetes{}}, "kubernetes", false, 0, 0},
		{"none", Source{}, "", false, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.source.Type(); got != tt.wantType {
				t.Errorf("Type() = %q, want %q", got, tt.wantType)
			}
			if got := tt.source.Synced(); got != tt.wantSynced {
				t.Errorf("Synced() = %v, want %v", got, tt.wantSynced)
			}
			if got := tt.source.Interval(); got != tt.wantInterval {
				t.Errorf("Interval() = %v, want %v", got, tt.wantInterval)
			}
			if got := tt.source.PollInterval(); got != tt.wantPoll {
				t.Errorf("PollInterval() = %v, want %v", got, tt.wantPoll)
			}
		})
	}
}

func TestTimeouts(t *testing.T) {
	tests := []struct {
		name string
		got  time.Duration
		want time.Duration
	}{
		{"api default", API{}.TimeoutDuration(), 10 * time.Second},
		{"api set", API{Timeout: Duration(time.Minute)}.TimeoutDuration(), time.Minute},
		{"file default", File{}.TimeoutDuration(), 30 * time.Second},
		{"file set", File{Timeout: Duration(5 * time.Second)}.TimeoutDuration(), 5 * time.Second},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestGitPathDefault(t *testing.T) {
	cfg, _ := mustParse(t, `
sources:
  - name: default
    git: {repository: https://example.com/r.git}
    syncPolicy: {interval: 1h}
  - name: custom
    git: {repository: https://example.com/r.git, path: data/registry.json}
    syncPolicy: {interval: 1h}
`)
	if got := cfg.Sources[0].Git.Path; got != DefaultGitPath {
		t.Errorf("unset path = %q, want %q", got, DefaultGitPath)
	}
	if got := cfg.Sources[1].Git.Path; got != "data/registry.json" {
		t.Errorf("set path = %q, want it kept", got)
	}
}

// TestValidateIsPure checks that Validate judges the configuration alone:
// it fills in nothing and reads no file, which CheckFiles does.
func TestValidateIsPure(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "absent")
	build := func() *Config {
		c := Default()
		c.Sources = []Source{
			{Name: "g", Git: &Git{Repository: "ssh://git@example.com/r.git", Auth: &GitAuth{SSHKeyFile: missing, KnownHostsFile: missing}}, SyncPolicy: &SyncPolicy{Interval: Duration(time.Hour)}},
			{Name: "p", Git: &Git{Repository: "https://example.com/r.git", Auth: &GitAuth{Username: "u", PasswordFile: missing}}, SyncPolicy: &SyncPolicy{Interval: Duration(time.Hour)}},
			{Name: "a", API: &API{Endpoint: "https://example.com", BearerTokenFile: missing}, SyncPolicy: &SyncPolicy{Interval: Duration(time.Hour)}},
			{Name: "f", File: &File{URL: "https://example.com/r.json", BearerTokenFile: missing}, SyncPolicy: &SyncPolicy{Interval: Duration(time.Hour)}},
		}
		return c
	}
	c := build()
	if _, err := c.Validate(); err != nil {
		t.Fatalf("Validate read the disk: %v", err)
	}
	if !reflect.DeepEqual(c, build()) {
		t.Errorf("Validate changed its argument:\n%+v", c.Sources[0].Git)
	}

	stat := "stat " + missing + ": no such file or directory"
	equalLists(t, "CheckFiles", problems(t, c.CheckFiles()), []string{
		"source[0] (g): git.auth.sshKeyFile is not accessible: " + stat,
		"source[0] (g): git.auth.knownHostsFile is not accessible: " + stat,
		"source[1] (p): git.auth.passwordFile is not accessible: " + stat,
		"source[2] (a): api.bearerTokenFile is not accessible: " + stat,
		"source[3] (f): file.bearerTokenFile is not accessible: " + stat,
	})
}

func TestSyncedSources(t *testing.T) {
	cfg, warnings := mustParse(t, `
sources:
  - name: a
    file: {path: a.json}
    syncPolicy: {interval: 1m}
  - name: m
    managed: {}
  - name: k
    kubernetes: {namespaces: [default]}
  - name: b
    file: {path: b.json}
    syncPolicy: {interval: 1m}
`)
	var names []string
	for _, s := range cfg.SyncedSources() {
		names = append(names, s.Name)
	}
	equalLists(t, "synced sources", names, []string{"a", "b"})
	equalLists(t, "warnings", warnings, []string{
		`source "m" (managed) is not synced by regsync`,
		`source "k" (kubernetes) is not synced by regsync`,
	})
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	t.Run("valid file loads", func(t *testing.T) {
		cfg, _, err := Load(write("ok.yaml", fileSource))
		if err != nil {
			t.Fatal(err)
		}
		if len(cfg.Sources) != 1 || cfg.Sources[0].Name != "local" {
			t.Errorf("sources = %+v", cfg.Sources)
		}
	})
	t.Run("missing file names the path", func(t *testing.T) {
		p := filepath.Join(dir, "missing.yaml")
		_, _, err := Load(p)
		if err == nil || !strings.HasPrefix(err.Error(), "load config "+p+": ") || !errors.Is(err, os.ErrNotExist) {
			t.Errorf("err = %v, want load config %s: ... not exist", err, p)
		}
	})
	t.Run("invalid config is wrapped and keeps its problems", func(t *testing.T) {
		p := write("bad.yaml", "sources: []\nhttp: {addr: nowhere}\n")
		_, _, err := Load(p)
		if err == nil {
			t.Fatal("no error")
		}
		wantPrefix := "load config " + p + ": 2 problems:\n  at least one source must be configured\n  line 2: http.addr must be host:port"
		if !strings.HasPrefix(err.Error(), wantPrefix) {
			t.Errorf("err = %q, want prefix %q", err, wantPrefix)
		}
		if got := len(problems(t, err)); got != 2 {
			t.Errorf("%d problems, want 2", got)
		}
	})
	t.Run("warnings come with errors", func(t *testing.T) {
		_, warnings, err := Load(write("warn.yaml", "database: {host: x}\nsources: []\n"))
		if err == nil {
			t.Fatal("no error")
		}
		equalLists(t, "warnings", warnings, []string{`ignoring section "database": regsync does not use it`})
	})
	t.Run("oversized file is refused", func(t *testing.T) {
		p := write("big.yaml", fileSource+"#"+strings.Repeat("x", maxFileSize))
		_, _, err := Load(p)
		if err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Errorf("err = %v, want a size error", err)
		}
	})
}

func TestEmptyDocument(t *testing.T) {
	for _, src := range []string{"", "# only a comment\n", "---\n", "~\n"} {
		_, _, err := Parse([]byte(src))
		equalLists(t, fmt.Sprintf("problems of %q", src), problems(t, err), []string{"at least one source must be configured"})
	}
}
