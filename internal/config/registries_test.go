package config

import (
	"reflect"
	"strings"
	"testing"
)

// twoSources holds a synced source of each of two kinds and a managed one,
// for the registries that reference them.
const twoSources = `
sources:
  - name: internal
    file: {path: internal.json}
    syncPolicy: {interval: 30m}
  - name: upstream
    api: {endpoint: https://registry.example.com}
    syncPolicy: {interval: 1h}
  - name: published
    managed: {}
`

func TestRegistriesParsed(t *testing.T) {
	cfg, warnings := mustParse(t, twoSources+`
registries:
  - name: default
    sources: [internal, upstream]
    claims: {team: platform, envs: [prod, staging]}
  - name: mirror
    sources: [upstream]
`)
	want := []Registry{
		{Name: "default", Sources: []string{"internal", "upstream"}, Claims: map[string]any{"team": "platform", "envs": []any{"prod", "staging"}}},
		{Name: "mirror", Sources: []string{"upstream"}},
	}
	if !reflect.DeepEqual(cfg.Registries, want) {
		t.Errorf("registries = %#v, want %#v", cfg.Registries, want)
	}
	if !reflect.DeepEqual(cfg.EffectiveRegistries(), want) {
		t.Errorf("effective registries = %#v, want the configured ones", cfg.EffectiveRegistries())
	}
	for _, w := range warnings {
		if strings.Contains(w, "registries") {
			t.Errorf("registries are used, yet warned about: %q", w)
		}
	}
}

func TestRegistriesDefaultToOnePerSyncedSource(t *testing.T) {
	for _, section := range []string{"", "registries: []\n"} {
		cfg, _ := mustParse(t, twoSources+section)
		want := []Registry{
			{Name: "internal", Sources: []string{"internal"}},
			{Name: "upstream", Sources: []string{"upstream"}},
		}
		if got := cfg.EffectiveRegistries(); !reflect.DeepEqual(got, want) {
			t.Errorf("%q: effective registries = %#v, want %#v (a managed source is no registry of its own)", section, got, want)
		}
	}
}

func TestRegistryValidation(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{
			name: "name is required",
			yaml: "  - sources: [internal]\n",
			want: []string{"line 12: registries[0]: name is required"},
		},
		{
			name: "duplicate name",
			yaml: "  - name: one\n    sources: [internal]\n  - name: one\n    sources: [upstream]\n",
			want: []string{"line 14: registries[1]: duplicate registry name 'one'"},
		},
		{
			name: "at least one source",
			yaml: "  - name: empty\n    sources: []\n  - name: missing\n",
			want: []string{
				"line 12: registries[0] (empty): at least one source is required",
				"line 14: registries[1] (missing): at least one source is required",
			},
		},
		{
			name: "unknown source",
			yaml: "  - name: default\n    sources: [internal, nowhere, elsewhere]\n",
			want: []string{
				"line 12: registries[0] (default): references unknown source 'nowhere'",
				"line 12: registries[0] (default): references unknown source 'elsewhere'",
			},
		},
		{
			name: "uppercase name is not a DNS label",
			yaml: "  - name: Default\n    sources: [internal]\n",
			want: []string{"line 12: registries[0]: name 'Default' must be a DNS label (lowercase letters, digits and hyphens, starting and ending with a letter or digit, max 63 chars)"},
		},
		{
			name: "dotted name is not a DNS label",
			yaml: "  - name: team.default\n    sources: [internal]\n",
			want: []string{"line 12: registries[0]: name 'team.default' must be a DNS label (lowercase letters, digits and hyphens, starting and ending with a letter or digit, max 63 chars)"},
		},
		{
			name: "64-character name is too long",
			yaml: "  - name: " + strings.Repeat("r", 64) + "\n    sources: [internal]\n",
			want: []string{"line 12: registries[0]: name '" + strings.Repeat("r", 64) + "' must be a DNS label (lowercase letters, digits and hyphens, starting and ending with a letter or digit, max 63 chars)"},
		},
		{
			name: "a source listed twice",
			yaml: "  - name: default\n    sources: [internal, upstream, internal]\n",
			want: []string{"line 12: registries[0] (default): lists source 'internal' twice"},
		},
		{
			name: "claims as a source's",
			yaml: "  - name: default\n    sources: [internal]\n    claims: {team: platform, envs: [prod, 3], level: 5}\n",
			want: []string{
				`line 12: registries[0] (default): claim "envs": array element [1] must be a string, got a number`,
				`line 12: registries[0] (default): claim "level": value must be a string or array of strings, got a number`,
			},
		},
		{
			name: "unknown key",
			yaml: "  - name: default\n    sources: [internal]\n    filter: {names: {include: [x]}}\n",
			want: []string{`line 14: unknown key "filter" in registries[0]`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse([]byte(twoSources + "registries:\n" + tt.yaml))
			equalLists(t, "problems", problems(t, err), tt.want)
		})
	}
}

// TestRegistryOfUnsyncedSource pins what regsync does with a registry
// that lists a managed source, as the reference's own examples do: the
// configuration loads, and a warning says the source adds nothing.
func TestRegistryOfUnsyncedSource(t *testing.T) {
	cfg, warnings := mustParse(t, twoSources+"registries:\n  - name: default\n    sources: [internal, published]\n")
	if got := cfg.EffectiveRegistries()[0].Sources; !reflect.DeepEqual(got, []string{"internal", "published"}) {
		t.Errorf("sources = %q, want the configured order", got)
	}
	equalLists(t, "warnings", warnings, []string{
		`source "published" (managed) is not synced by regsync`,
		`registry "default": source "published" (managed) is not synced by regsync and adds no entries to it`,
	})
}

func TestReadAPIConfig(t *testing.T) {
	cfg, _ := mustParse(t, fileSource)
	if cfg.API != (ReadAPI{MaxSSEClients: 256, CORS: true}) {
		t.Errorf("api defaults = %+v, want no own listener, no claimed registries, 256 SSE clients and CORS", cfg.API)
	}
	cfg, _ = mustParse(t, fileSource+"api: {addr: \"127.0.0.1:8081\", serveClaimedRegistries: true, maxSSEClients: 10, cors: false}\n")
	if want := (ReadAPI{Addr: "127.0.0.1:8081", ServeClaimedRegistries: true, MaxSSEClients: 10}); cfg.API != want {
		t.Errorf("api = %+v, want %+v", cfg.API, want)
	}

	// Port 0 is a free port chosen at start, so both listeners on port 0
	// of one host are two listeners.
	mustParse(t, fileSource+"http: {addr: \"127.0.0.1:0\"}\napi: {addr: \"127.0.0.1:0\"}\n")

	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"addr without port", `api: {addr: localhost}`, []string{"line 6: api.addr must be host:port: address localhost: missing port in address"}},
		{"addr with a bad port", `api: {addr: "localhost:99999"}`, []string{`line 6: api.addr has an invalid port "99999"`}},
		{"addr of http", `api: {addr: "127.0.0.1:8080"}`, []string{`line 6: api.addr "127.0.0.1:8080" is http.addr: leave api.addr empty to serve the API on http.addr`}},
		{"no SSE clients", `api: {maxSSEClients: 0}`, []string{`line 6: api.maxSSEClients must be at least 1, got 0`}},
		{"serveClaimedRegistries not a bool", `api: {serveClaimedRegistries: sometimes}`, []string{`line 6: api.serveClaimedRegistries: want true or false, got a string "sometimes"`}},
		{"cors not a bool", `api: {cors: "*"}`, []string{`line 6: api.cors: want true or false, got a string "*"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse([]byte(fileSource + tt.yaml))
			equalLists(t, "problems", problems(t, err), tt.want)
		})
	}
}
