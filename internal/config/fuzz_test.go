package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds Parse arbitrary bytes: it must never panic, and must
// return either a config or an error.
func FuzzParse(f *testing.F) {
	seeds := []string{
		fileSource,
		"",
		"sources: []",
		"- a\n- b\n",
		"a: &a [*a]\n",
		"sources:\n  - &s {name: a, file: {path: r}, syncPolicy: {interval: 1m}}\n  - <<: *s\n    name: b\n",
		"sources:\n  - <<: [*x]\n",
		"nats: {url: 'nats://a,,tls://'}\nsync: {maxDataSize: 99999999999999999999TiB}\n",
		"SOURCES: {Name: x}\nsources: 1\n",
		"sources:\n  - name: s\n    claims: {a: [1, {b: c}], d: ~}\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	for _, dir := range []string{filepath.Join(repoRoot, "examples"), toolhiveConfigs} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, p := range files {
			if data, err := os.ReadFile(p); err == nil {
				f.Add(data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, _, err := Parse(data)
		if (cfg == nil) == (err == nil) {
			t.Fatalf("Parse returned config %v and error %v", cfg != nil, err)
		}
		if err != nil {
			_ = err.Error()
		}
	})
}
