package config

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestDurationParse(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"units", "watch: {debounce: 75ms, gitPollInterval: 2m, httpPollInterval: 1h30m}\n", nil},
		{"quoted", "sync: {timeout: \"45s\"}\n", nil},
		{"unparsable", "sync: {leaseTTL: soon}\n", []string{`line 6: sync.leaseTTL must be a duration such as "30s" or "5m", got a string "soon"`}},
		{"without a unit", "nats: {results: {maxAge: 3600}}\n", []string{`line 6: nats.results.maxAge must be a duration such as "30s" or "5m", got a number "3600"`}},
		{"zero", "sync: {timeout: 0s}\n", []string{"line 6: sync.timeout must be greater than zero"}},
		{"negative", "watch: {debounce: -1ms}\n", []string{"line 6: watch.debounce must be greater than zero"}},
		{"a mapping", "watch:\n  debounce: {ms: 5}\n", []string{`line 7: watch.debounce must be a duration such as "30s" or "5m", got a mapping`}},
		{"the key among several on its line", "watch: {debounce: 1s, gitPollInterval: never, httpPollInterval: 1m}\n", []string{`line 6: watch.gitPollInterval must be a duration such as "30s" or "5m", got a string "never"`}},
		{"a source's, named as validation names it", "  - name: g\n    git: {repository: https://example.com/r.git, pollInterval: 1x}\n    syncPolicy: {interval: 1h}\n", []string{`line 7: source[1] (g): git.pollInterval must be a duration such as "30s" or "5m", got a string "1x"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse([]byte(fileSource + tt.yaml))
			equalLists(t, "problems", problems(t, err), tt.want)
		})
	}

	t.Run("values are read", func(t *testing.T) {
		cfg, _ := mustParse(t, fileSource+"watch: {debounce: 75ms, gitPollInterval: 1h30m}\n")
		if cfg.Watch.Debounce != Duration(75*time.Millisecond) || cfg.Watch.GitPollInterval != Duration(90*time.Minute) {
			t.Errorf("watch = %+v", cfg.Watch)
		}
	})

	t.Run("an empty string is not set", func(t *testing.T) {
		cfg, _ := mustParse(t, "sources:\n  - name: a\n    api: {endpoint: https://x.example, timeout: \"\"}\n    syncPolicy: {interval: 5m}\n")
		if got := cfg.Sources[0].API.TimeoutDuration(); got != DefaultAPITimeout {
			t.Errorf("timeout = %v, want the default %v", got, DefaultAPITimeout)
		}
	})

	t.Run("other problems are reported beside it", func(t *testing.T) {
		_, _, err := Parse([]byte("sources:\n  - name: Bad\n    file: {path: r.json}\n    syncPolicy: {interval: soon}\nsync: {workers: 0}\n"))
		equalLists(t, "problems", problems(t, err), []string{
			`line 4: source[0] (Bad): syncPolicy.interval must be a duration such as "30s" or "5m", got a string "soon"`,
			"line 2: source[0]: name 'Bad' must be a valid DNS subdomain (lowercase alphanumeric and hyphens, max 63 chars)",
			"line 5: sync.workers must be at least 1, got 0",
		})
	})
}

func TestDurationYAML(t *testing.T) {
	var v struct{ D Duration }
	if err := yaml.Unmarshal([]byte("d: 1m30s"), &v); err != nil || v.D != Duration(90*time.Second) {
		t.Fatalf("unmarshal = %v, %v", v.D, err)
	}
	out, err := yaml.Marshal(v)
	if err != nil || string(out) != "d: 1m30s\n" {
		t.Fatalf("marshal = %q, %v", out, err)
	}
	err = yaml.Unmarshal([]byte("\nd: later"), &v)
	if err == nil || !strings.Contains(err.Error(), `line 2 column 4: must be a duration such as "30s" or "5m", got a string "later"`) {
		t.Errorf("err = %v, want the line and what is wrong", err)
	}
}
