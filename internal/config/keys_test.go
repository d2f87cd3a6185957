package config

import (
	"strings"
	"testing"
	"time"
)

func TestUnknownKeys(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "top level",
			yaml: `sources:
  - name: s
    file: {path: r.json}
    syncPolicy: {interval: 5m}
datadir2: ./x
`,
			want: []string{`line 5: unknown key "datadir2" at top level`},
		},
		{
			name: "in a source",
			yaml: `sources:
  - name: s
    type: file
    file: {path: r.json}
    syncPolicy: {interval: 5m}
`,
			want: []string{`line 3: unknown key "type" in sources[0]`},
		},
		{
			name: "in a source's file",
			yaml: `sources:
  - name: s
    file:
      path: r.json
      data: "{}"
    syncPolicy: {interval: 5m}
`,
			want: []string{`line 5: unknown key "data" in sources[0].file`},
		},
		{
			name: "in the second source's filter",
			yaml: `sources:
  - name: a
    file: {path: a.json}
    syncPolicy: {interval: 5m}
  - name: b
    file: {path: b.json}
    syncPolicy: {interval: 5m}
    filter:
      names:
        include: ["*"]
        exlude: ["*/old"]
`,
			want: []string{`line 11: unknown key "exlude" in sources[1].filter.names`},
		},
		{
			name: "in nats.embedded and webhooks",
			yaml: `sources:
  - name: s
    file: {path: r.json}
    syncPolicy: {interval: 5m}
nats:
  embedded:
    port: 4222
webhooks:
  github:
    secret: inline-secret
`,
			want: []string{
				`line 7: unknown key "port" in nats.embedded`,
				`line 10: unknown key "secret" in webhooks.github`,
			},
		},
		{
			name: "every unknown key at once",
			yaml: `sources:
  - name: s
    file: {path: r.json, format: upstream}
    syncPolicy: {interval: 5m, jitter: 1m}
    git2: {}
http: {addr: "127.0.0.1:8080", tls: true}
foo: 1
bar: 2
`,
			want: []string{
				`line 3: unknown key "format" in sources[0].file`,
				`line 4: unknown key "jitter" in sources[0].syncPolicy`,
				`line 5: unknown key "git2" in sources[0]`,
				`line 6: unknown key "tls" in http`,
				`line 7: unknown key "foo" at top level`,
				`line 8: unknown key "bar" at top level`,
			},
		},
		{
			name: "in a managed source",
			yaml: `sources:
  - name: m
    managed: {owner: me}
`,
			want: []string{`line 3: unknown key "owner" in sources[0].managed`},
		},
		{
			name: "a key that is a mapping",
			yaml: `sources:
  - name: s
    file: {path: r.json}
    syncPolicy: {interval: 5m}
? {a: b}
: x
`,
			want: []string{`line 5: a key at top level is not a plain name`},
		},
		{
			name: "the same key twice in different case",
			yaml: `sources:
  - name: s
    file: {path: r.json}
    syncPolicy: {interval: 5m}
    SyncPolicy: {interval: 1m}
`,
			want: []string{`line 5: key "SyncPolicy" in sources[0] is already set at line 4`},
		},
		{
			name: "the same key twice",
			yaml: `sources:
  - name: s
    file: {path: r.json}
    syncPolicy: {interval: 5m}
dataDir: a
dataDir: b
`,
			want: []string{`line 6: key "dataDir" at top level is already set at line 5`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, err := Parse([]byte(tt.yaml))
			if cfg != nil {
				t.Error("Parse returned a config despite unknown keys")
			}
			equalLists(t, "problems", problems(t, err), tt.want)
		})
	}
}

func TestKeysMatchCaseInsensitively(t *testing.T) {
	cfg, _ := mustParse(t, `
SOURCES:
  - Name: s
    File: {PATH: r.json}
    syncpolicy: {Interval: 5m}
    FILTER: {Names: {Include: ["io.example/*"]}, tags: {EXCLUDE: [beta]}}
DataDir: /srv/regsync
NATS: {Embedded: {LISTEN: ""}, replicas: 3}
Watch: {GitPollInterval: 1m}
webhooks: {GitHub: {SecretEnv: GH_SECRET}}
Sync: {MaxDataSize: 1MiB, LeaseTtl: 20s}
`)
	s := cfg.Sources[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"source name", s.Name, "s"},
		{"file path", s.File.Path, "r.json"},
		{"interval", s.Interval(), 5 * time.Minute},
		{"name include", strings.Join(s.Filter.Names.Include, ","), "io.example/*"},
		{"tag exclude", strings.Join(s.Filter.Tags.Exclude, ","), "beta"},
		{"dataDir", cfg.DataDir, "/srv/regsync"},
		{"listen", cfg.NATS.Embedded.Listen, ""},
		{"replicas", cfg.NATS.Replicas, 3},
		{"git poll", cfg.Watch.GitPollInterval, Duration(time.Minute)},
		{"github secret env", cfg.Webhooks.GitHub.SecretEnv, "GH_SECRET"},
		{"max data size", cfg.Sync.MaxDataSize, MiB},
		{"lease ttl", cfg.Sync.LeaseTTL, Duration(20 * time.Second)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestIgnoredSections(t *testing.T) {
	src := `
registries:
  - name: default
    sources: [local]
database:
  host: localhost
  anything: [goes, here]
auth: {mode: anonymous}
audit: {enabled: true}
Telemetry: {enabled: false}
claims: {org: acme}
` + fileSource
	_, warnings := mustParse(t, src)
	equalLists(t, "warnings", warnings, []string{
		`ignoring section "database": regsync does not use it`,
		`ignoring section "auth": regsync does not use it`,
		`ignoring section "audit": regsync does not use it`,
		`ignoring section "telemetry": regsync does not use it`,
		`ignoring section "claims": regsync does not use it`,
	})

	t.Run("a section given twice warns once", func(t *testing.T) {
		_, warnings := mustParse(t, "auth: {mode: anonymous}\nAuth: {mode: oauth}\n"+fileSource)
		equalLists(t, "warnings", warnings, []string{`ignoring section "auth": regsync does not use it`})
	})
	t.Run("only at top level", func(t *testing.T) {
		_, _, err := Parse([]byte(fileSource + "nats: {auth: {mode: x}}\n"))
		equalLists(t, "problems", problems(t, err), []string{`line 6: unknown key "auth" in nats`})
	})
}

func TestInvalidYAML(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"unclosed flow mapping", "sources:\n  - name: s\n    file: {path: r.json\n", "invalid YAML: line 3: did not find expected ',' or '}'"},
		{"bad indentation names the sequence it breaks", "sources:\n  - name: s\n   file: x\n", "invalid YAML: line 2: did not find expected '-' indicator"},
		{"mapping value in a scalar", "dataDir: ./data\nsources: name: s\n", "invalid YAML: line 2: mapping values are not allowed in this context"},
		{"missing key on the first line", "{: x\n", "invalid YAML: line 1: did not find expected node content"},
		{"tab indentation", "sources:\n\t- name: s\n", "invalid YAML: line 2: found character that cannot start any token"},
		{"second document", fileSource + "---\nsources: []\n", "invalid YAML: line 6: a configuration file holds one YAML document, found another"},
	}
	t.Run("an empty trailing document is fine", func(t *testing.T) {
		mustParse(t, fileSource+"---\n# nothing more\n")
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse([]byte(tt.yaml))
			if err == nil || err.Error() != tt.want {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestWrongTypes(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"top level is a list", "- a\n- b\n", []string{"line 1: want a mapping of configuration keys, got a list"}},
		{"sources is a mapping", "sources: {name: s}\n", []string{"line 1: sources: want a list, got a mapping"}},
		{"interval is a list", "sources:\n  - name: s\n    file: {path: r.json}\n    syncPolicy: {interval: [5m]}\n", []string{`line 4: source[0] (s): syncPolicy.interval must be a duration such as "30s" or "5m", got a list`}},
		{"wrong types everywhere, reported together", "sources:\n  - name: s\n    file: {path: r.json}\n    syncPolicy: {interval: 5m}\nnats: {replicas: three}\nsync: {timeout: 5}\nbogus: 1\n", []string{
			`line 7: unknown key "bogus" at top level`,
			`line 5: nats.replicas: want a whole number, got a string "three"`,
			`line 6: sync.timeout must be a duration such as "30s" or "5m", got a number "5"`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse([]byte(tt.yaml))
			equalLists(t, "problems", problems(t, err), tt.want)
		})
	}
	t.Run("a string where a list of strings belongs", func(t *testing.T) {
		_, _, err := Parse([]byte("sources:\n  - name: s\n    file: {path: r.json}\n    syncPolicy: {interval: 5m}\n    filter:\n      names:\n        include: io.github.stacklok/*\n"))
		equalLists(t, "problems", problems(t, err), []string{`line 7: sources[0].filter.names.include: want a list of strings, got a string "io.github.stacklok/*"`})
		if err != nil && (strings.Contains(err.Error(), "[]string") || strings.Contains(err.Error(), "!!")) {
			t.Errorf("error %q shows Go or YAML type names", err)
		}
	})
}

func TestAnchorsAndMergeKeys(t *testing.T) {
	t.Run("aliased and merged mappings are checked and decoded", func(t *testing.T) {
		cfg, _ := mustParse(t, `
sources:
  - name: a
    file: {path: a.json}
    syncPolicy: &policy {Interval: 10m}
  - &base
    name: b
    file: {path: b.json}
    syncPolicy: *policy
  - <<: *base
    name: c
    file: {path: c.json}
`)
		for i, want := range []struct{ name, path string }{{"a", "a.json"}, {"b", "b.json"}, {"c", "c.json"}} {
			s := cfg.Sources[i]
			if s.Name != want.name || s.File.Path != want.path || s.Interval() != 10*time.Minute {
				t.Errorf("source %d = %s %s %v, want %s %s 10m", i, s.Name, s.File.Path, s.Interval(), want.name, want.path)
			}
		}
	})
	t.Run("an unknown key under an anchor is reported once", func(t *testing.T) {
		_, _, err := Parse([]byte(`
sources:
  - name: a
    file: {path: a.json}
    syncPolicy: &policy {interval: 10m, typo: 1}
  - name: b
    file: {path: b.json}
    syncPolicy: *policy
`))
		equalLists(t, "problems", problems(t, err), []string{`line 5: unknown key "typo" in sources[0].syncPolicy`})
	})
	t.Run("an unknown key in a merged mapping is reported", func(t *testing.T) {
		_, _, err := Parse([]byte(`
sources:
  - <<: {nmae: x}
    name: a
    file: {path: a.json}
    syncPolicy: {interval: 10m}
`))
		equalLists(t, "problems", problems(t, err), []string{`line 3: unknown key "nmae" in sources[0]`})
	})
}
