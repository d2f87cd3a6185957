package registry

import (
	"encoding/json"
	"strings"
	"testing"
)

const snapshotDoc = `{
  "$schema": "https://example.com/schema.json",
  "version": "1.0.0",
  "meta": {"last_updated": "2026-01-01T00:00:00Z", "source": "kept-unknown-meta"},
  "x-extra": {"kept": true},
  "data": {
    "servers": [
      {"name": "io.test/one", "description": "first", "version": "1.0.0", "x-vendor": 1},
      {"name": "io.test/two", "description": "second", "version": "1.0.0"}
    ],
    "skills": [
      {"namespace": "io.test", "name": "skill-a", "description": "a", "version": "1.0.0"}
    ]
  }
}`

func TestSnapshotKeepsTheSourcesOwnBytes(t *testing.T) {
	reg, err := Parse([]byte(snapshotDoc))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("no filter stores the source document itself", func(t *testing.T) {
		filtered, data, err := Snapshot([]byte(snapshotDoc), reg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if string(data) != snapshotDoc {
			t.Errorf("snapshot differs from the source:\n%s", data)
		}
		if filtered != reg {
			t.Error("no filter must return the registry itself")
		}
	})
	t.Run("a filter keeps unknown fields and invents none", func(t *testing.T) {
		f := &Filter{Names: &PatternSet{Include: []string{"*"}}}
		_, data, err := Snapshot([]byte(snapshotDoc), reg, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{`"x-vendor": 1`, `"x-extra":{"kept": true}`, `"source": "kept-unknown-meta"`, `"io.test/two"`, `"skill-a"`} {
			if !strings.Contains(string(data), want) {
				t.Errorf("snapshot lacks %s:\n%s", want, data)
			}
		}
		if strings.Contains(string(data), `"$schema":""`) {
			t.Error("snapshot invents an empty $schema")
		}
		if _, err := Parse(data); err != nil {
			t.Errorf("snapshot does not parse again: %v", err)
		}
	})
	t.Run("a filter drops entries and nothing else", func(t *testing.T) {
		f := &Filter{Names: &PatternSet{Exclude: []string{"*/two", "io.test/skill-*"}}}
		filtered, data, err := Snapshot([]byte(snapshotDoc), reg, f)
		if err != nil {
			t.Fatal(err)
		}
		if s, k, _ := Counts(filtered); s != 1 || k != 0 {
			t.Errorf("counts %d servers %d skills", s, k)
		}
		var doc struct {
			Data struct {
				Servers []map[string]any `json:"servers"`
				Skills  []map[string]any `json:"skills"`
			} `json:"data"`
		}
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		if len(doc.Data.Servers) != 1 || doc.Data.Servers[0]["x-vendor"] != float64(1) || len(doc.Data.Skills) != 0 {
			t.Errorf("snapshot %s", data)
		}
	})
	t.Run("keys only the case-insensitive decoder reads fall back to the typed encoding", func(t *testing.T) {
		// encoding/json lets the later "Data" win over "data"; the raw
		// document's "data" then no longer lines up with what was parsed.
		odd := strings.TrimSuffix(snapshotDoc, "}") +
			`, "Data": {"servers": [{"name": "io.test/three", "description": "third", "version": "1.0.0"}]}}`
		oddReg, err := Parse([]byte(odd))
		if err != nil {
			t.Fatal(err)
		}
		f := &Filter{Names: &PatternSet{Include: []string{"*"}}}
		_, data, err := Snapshot([]byte(odd), oddReg, f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), `"io.test/three"`) || strings.Contains(string(data), `"io.test/two"`) {
			t.Errorf("snapshot does not hold what was parsed: %s", data)
		}
	})
}

// BenchmarkSyncPath is the data work of one sync of a 2.1 MB registry:
// validate and parse, filter and cut the snapshot, diff against the
// previous snapshot.
func BenchmarkSyncPath(b *testing.B) {
	raw := largeRegistry(b)
	prev, err := Parse(raw)
	if err != nil {
		b.Fatal(err)
	}
	f := &Filter{Names: &PatternSet{Exclude: []string{"*-copy1*"}}}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		reg, err := Parse(raw)
		if err != nil {
			b.Fatal(err)
		}
		filtered, _, err := Snapshot(raw, reg, f)
		if err != nil {
			b.Fatal(err)
		}
		Compare(prev, filtered)
	}
}
