package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/internal/registry"
)

// write is one rewrite of a registry file.
type write struct {
	at     time.Time
	hash   string // the source hash regsync records: hex SHA-256 of the bytes
	digest string // the object store digest of the same bytes
	valid  bool
}

// registries are the registry files of a scenario and every write made to
// them. Every write has content no other write had, so a hash names one
// write.
type registries struct {
	dir     string
	servers int // servers per valid registry

	mu     sync.Mutex
	seq    int
	writes map[string][]write
	last   map[string][]byte // the last valid content written, per source
}

// newRegistries writes a first valid registry for every source.
func newRegistries(dir string, sources []string, size int) (*registries, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f := &registries{dir: dir, servers: max(1, size/serverBytes), writes: make(map[string][]write), last: make(map[string][]byte)}
	for _, s := range sources {
		if _, err := f.write(s, true); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func (f *registries) path(source string) string {
	return filepath.Join(f.dir, source+".json")
}

// write replaces a source's file, valid or not, by writing a temporary file
// and renaming it over the old one, as editors and deploy tools do. Writes
// are serialised, so the order recorded is the order on disk.
func (f *registries) write(source string, valid bool) (write, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	seq := f.seq
	var data []byte
	if valid {
		data = validRegistry(source, seq, f.servers)
	} else {
		data = invalidRegistry(source, seq, f.servers)
	}
	tmp := f.path(source) + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return write{}, fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, f.path(source)); err != nil {
		return write{}, fmt.Errorf("rename %s: %w", tmp, err)
	}
	w := write{at: time.Now(), hash: registry.Hash(data), digest: objectDigest(data), valid: valid}
	f.writes[source] = append(f.writes[source], w)
	if valid {
		f.last[source] = data
	}
	return w, nil
}

// lastValid returns the last valid content written to a source and its
// write.
func (f *registries) lastValid(source string) ([]byte, write) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ws := f.writes[source]
	for i := len(ws) - 1; i >= 0; i-- {
		if ws[i].valid {
			return f.last[source], ws[i]
		}
	}
	return nil, write{}
}

// all returns every write, per source.
func (f *registries) all() map[string][]write {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string][]write, len(f.writes))
	for s, ws := range f.writes {
		out[s] = append([]write(nil), ws...)
	}
	return out
}

// objectDigest is the digest the JetStream object store reports for data.
func objectDigest(data []byte) string {
	h := sha256.New()
	h.Write(data)
	return jetstream.GetObjectDigestValue(h)
}

// serverBytes is about the size of one server entry.
const serverBytes = 900

// validRegistry is an upstream-format registry with n servers, in the
// format of examples/quickstart-registry.json; seq makes it unique.
func validRegistry(source string, seq, n int) []byte {
	data, _ := json.MarshalIndent(registryDoc(source, seq, n), "", "  ")
	return data
}

// invalidRegistry is a registry regsync must refuse, in one of three ways
// chosen by seq: a document cut in half, a server without a description,
// and a registry without servers.
func invalidRegistry(source string, seq, n int) []byte {
	switch seq % 3 {
	case 0:
		data := validRegistry(source, seq, n)
		return data[:len(data)/2]
	case 1:
		doc := registryDoc(source, seq, n)
		servers := doc["data"].(map[string]any)["servers"].([]any)
		delete(servers[len(servers)-1].(map[string]any), "description")
		data, _ := json.MarshalIndent(doc, "", "  ")
		return data
	default:
		doc := registryDoc(source, seq, n)
		doc["data"] = map[string]any{"servers": []any{}}
		data, _ := json.MarshalIndent(doc, "", "  ")
		return data
	}
}

func registryDoc(source string, seq, n int) map[string]any {
	servers := make([]any, 0, n)
	version := fmt.Sprintf("1.%d.%d", seq/1000, seq%1000)
	for i := range n {
		servers = append(servers, serverDoc(fmt.Sprintf("%s-%d", source, i), version,
			fmt.Sprintf("Server %d of source %s, written as revision %d by the fault suite", i, source, seq)))
	}
	servers = append(servers, sharedServers(source, seq)...)
	return map[string]any{
		"$schema": "https://raw.githubusercontent.com/stacklok/toolhive-core/main/registry/types/data/upstream-registry.schema.json",
		"version": "1.0.0",
		"meta":    map[string]any{"last_updated": time.Now().UTC().Format(time.RFC3339)},
		"data":    map[string]any{"servers": servers},
	}
}

// serverDoc is one server entry named io.github.chaos/<id>.
func serverDoc(id, version, description string) map[string]any {
	image := fmt.Sprintf("ghcr.io/chaos/%s:%s", id, version)
	return map[string]any{
		"$schema":     "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
		"name":        "io.github.chaos/" + id,
		"title":       "Chaos " + strings.ReplaceAll(id, "-", " "),
		"description": description,
		"version":     version,
		"repository":  map[string]any{"url": "https://github.com/chaos/" + id, "source": "github"},
		"packages": []any{map[string]any{
			"registryType": "oci",
			"identifier":   image,
			"transport":    map[string]any{"type": "stdio"},
		}},
		"_meta": map[string]any{
			"io.modelcontextprotocol.registry/publisher-provided": map[string]any{
				"io.github.stacklok": map[string]any{
					image: map[string]any{
						"status": "active",
						"tier":   "Community",
						"tags":   []string{"chaos", "stable"},
						"tools":  []string{"get_thing", "put_thing"},
					},
				},
			},
		},
	}
}

// sharedServers are the servers every source has under the same names,
// each source with its own versions and content, so that which source a
// registry takes a name from shows: io.github.chaos/shared-semver, whose
// latest version by semantic version (10.<k>.0) is not the latest by
// string order (2.<seq>.0); io.github.chaos/shared-string, whose versions
// are not semantic versions; and io.github.chaos/shared-odd, which a
// source has only in its odd revisions, so the source that wins it moves
// as the sources change.
func sharedServers(source string, seq int) []any {
	k := int(crc32.ChecksumIEEE([]byte(source)) % 90)
	about := func(name string) string {
		return fmt.Sprintf("Shared server %s as source %s wrote it in revision %d", name, source, seq)
	}
	out := []any{
		serverDoc("shared-semver", fmt.Sprintf("2.%d.0", seq), about("shared-semver")),
		serverDoc("shared-semver", fmt.Sprintf("10.%d.0", k), about("shared-semver")),
		serverDoc("shared-string", fmt.Sprintf("build-%d", seq), about("shared-string")),
		serverDoc("shared-string", "build-"+source, about("shared-string")),
	}
	if seq%2 == 1 {
		out = append(out, serverDoc("shared-odd", fmt.Sprintf("1.0.%d", seq), about("shared-odd")))
	}
	return out
}
