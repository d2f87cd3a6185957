package coordinator

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/regsync/regsync/internal/registry/merge"
)

// upstreamView is a merged view of n servers of two versions each, one
// skill and no plugin, each entry about 1 kB.
func upstreamView(n int) *merge.View {
	entry := func(raw string) merge.Entry {
		var id struct{ Version string }
		if err := json.Unmarshal([]byte(raw), &id); err != nil {
			panic(err)
		}
		return merge.Entry{Version: id.Version, Digest: sha256.Sum256([]byte(raw)), Data: []byte(raw)}
	}
	pad := string(bytes.Repeat([]byte("x"), 1000))
	servers := map[merge.Key][]merge.Entry{}
	for i := range n {
		name := fmt.Sprintf("io.x/s%05d", i)
		servers[merge.Key{Kind: merge.Server, Name: name}] = []merge.Entry{
			entry(fmt.Sprintf(`{"name":%q,"version":"1.0.0","description":"%s"}`, name, pad)),
			entry(fmt.Sprintf(`{"name":%q,"version":"1.1.0","description":"<%d> & \u00e9"}`, name, i)),
		}
	}
	skills := map[merge.Key][]merge.Entry{{Kind: merge.Skill, Name: "team/review"}: {entry(`{"namespace":"team","name":"review","version":"2"}`)}}
	return merge.Merge([]merge.Source{{Name: "a", Entries: servers}, {Name: "b", Entries: skills}})
}

// The object of a view holds what an encoder writes of the upstream
// document: the entries as stored, in the view's order.
func TestTheRegistryObjectIsTheUpstreamDocumentOfTheView(t *testing.T) {
	v := upstreamView(50)
	now := time.Date(2026, 12, 7, 22, 0, 0, 0, time.UTC)
	r, err := upstreamOf(v, now)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	type doc struct {
		Version string `json:"version"`
		Meta    struct {
			LastUpdated string `json:"last_updated"`
		} `json:"meta"`
		Data struct {
			Servers []json.RawMessage `json:"servers"`
			Skills  []json.RawMessage `json:"skills,omitempty"`
			Plugins []json.RawMessage `json:"plugins,omitempty"`
		} `json:"data"`
	}
	var d doc
	d.Version, d.Meta.LastUpdated = "1.0.0", now.Format(time.RFC3339)
	for _, it := range v.Items() {
		for _, e := range it.Versions {
			switch it.Key.Kind {
			case merge.Server:
				d.Data.Servers = append(d.Data.Servers, e.Data)
			case merge.Skill:
				d.Data.Skills = append(d.Data.Skills, e.Data)
			case merge.Plugin:
				d.Data.Plugins = append(d.Data.Plugins, e.Data)
			}
		}
	}
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, bytes.TrimSuffix(want.Bytes(), []byte("\n"))) {
		t.Fatalf("object:\n%s\nwant:\n%s", got, want.Bytes())
	}
}

// The object is read into the store from the entries themselves, a
// chunk at a time: no copy of the whole document is made (for a large
// registry, tens of MB each generation).
func TestTheRegistryObjectIsNotCopiedWhole(t *testing.T) {
	v := upstreamView(5000) // about 5.5 MB
	size := 0
	for _, it := range v.Items() {
		for _, e := range it.Versions {
			size += len(e.Data)
		}
	}
	chunk := make([]byte, 128<<10)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r, err := upstreamOf(v, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{r}, chunk)
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if n < int64(size) {
		t.Fatalf("read %d bytes of %d bytes of entries", n, size)
	}
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > uint64(size/20) {
		t.Errorf("reading the object allocated %d bytes for %d bytes of entries", allocated, size)
	}
}
