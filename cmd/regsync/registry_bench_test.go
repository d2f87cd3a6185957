package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/bus"
	"github.com/regsync/regsync/internal/registry"
	"github.com/regsync/regsync/internal/registry/registrytest"
)

// BenchmarkRegistryChanged runs `regsync serve` as its own process, with
// the default configuration and one file source (so one registry of it)
// of 12 or 10,000 generated servers, and edits one server of the file at
// a time. It reports the time from the write to the source's completed
// result as stored (edit-p50-ms, edit-p99-ms) and from that to the
// registry's registry.changed as stored (changed-p50-ms, changed-p99-ms;
// negative when the registry changed first), both from the stream's
// timestamps.
func BenchmarkRegistryChanged(b *testing.B) {
	bin := buildRegsync(b)
	for _, n := range []int{12, 10_000} {
		b.Run(fmt.Sprintf("servers=%d", n), func(b *testing.B) {
			regPath := filepath.Join(b.TempDir(), "registry.json")
			// Only the first server's description says "(edit 0)".
			base := registrytest.Large(n, 0)
			versions := [][]byte{base, bytes.Replace(base, []byte("(edit 0)"), []byte("(edit 1)"), 1)}
			const edited = "io.github.example/server-000000"
			_, next := serveLargeStored(b, bin, regPath, versions[0])
			registryChanged(b, next) // the start-up sync's generation

			var toCompleted, toChanged []time.Duration
			for i := 0; b.Loop(); i++ {
				start := time.Now()
				if err := os.WriteFile(regPath, versions[(i+1)%2], 0o644); err != nil {
					b.Fatal(err)
				}
				// The registry's view follows the source's entries,
				// stored before its completed result: either may come first.
				var completed, changed stored
				for completed.data == nil || changed.data == nil {
					s := next()
					switch d := s.data.(type) {
					case events.SyncCompleted:
						completed = s
					case events.RegistryChanged:
						changed = s
					case events.SyncFailed:
						b.Fatalf("sync failed: %s", d.Message)
					}
				}
				if d := changed.data.(events.RegistryChanged); !slices.Equal(d.Diff.Updated, []string{edited}) {
					b.Fatalf("registry.changed %+v, want %s updated", d, edited)
				}
				toCompleted = append(toCompleted, completed.at.Sub(start))
				toChanged = append(toChanged, changed.at.Sub(completed.at))
			}
			b.StopTimer()
			reportPercentiles(b, toCompleted, "edit-")
			reportPercentiles(b, toChanged, "changed-")
		})
	}
}

// registryChanged passes over results up to the next registry.changed.
func registryChanged(b *testing.B, next func() stored) stored {
	for {
		s := next()
		switch d := s.data.(type) {
		case events.RegistryChanged:
			return s
		case events.SyncFailed:
			b.Fatalf("sync failed: %s", d.Message)
		}
	}
}

// BenchmarkManyRegistriesChanged measures 1,000 sources in 10 registries
// of 100 sources each, all changed at once: `regsync serve` with the
// default configuration; each round writes every file, one after the
// other, and reports the time from the first write to the last completed
// result (completed-ms) and to the last registry.changed that announces
// the round's entries (changed-ms), as stored, the worst of the rounds,
// and how many registry.changed events a round took (generations/round,
// the mean; an event of a round stored after its last one counts in the
// next).
func BenchmarkManyRegistriesChanged(b *testing.B) {
	const n, registries = 1000, 10
	dir := b.TempDir()
	paths := make([]string, n)
	// content is source i's registry of round r: one server of its own.
	content := func(i, r int) string {
		return fmt.Sprintf(`{"version":"1.0.0","meta":{"last_updated":"2026-01-01T00:00:00Z"},"data":{"servers":[`+
			`{"name":"io.example/s%04d","description":"Server %d, round %d","version":"1.0.0"}]}}`, i, i, r)
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "dataDir: %s\nnats:\n  embedded: {listen: %q}\nhttp: {addr: %q}\nsources:\n", filepath.Join(dir, "data"), anyPort, anyPort)
	for i := range paths {
		paths[i] = filepath.Join(dir, fmt.Sprintf("s%04d.json", i))
		if err := os.WriteFile(paths[i], []byte(content(i, -1)), 0o644); err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(&cfg, "  - name: s%04d\n    file: {path: %s}\n    syncPolicy: {interval: 30m}\n", i, paths[i])
	}
	cfg.WriteString("registries:\n")
	for r := range registries {
		var names []string
		for i := r; i < n; i += registries {
			names = append(names, fmt.Sprintf("s%04d", i))
		}
		fmt.Fprintf(&cfg, "  - name: r%02d\n    sources: [%s]\n", r, strings.Join(names, ", "))
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	svc := serveConfig(b, cfgPath, filepath.Join(dir, "data"), "s0000")
	nc, err := bus.Connect(bus.ConnectOptions{URL: svc.natsURL})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	next := nextStored(b, js, time.Now().Add(time.Minute))
	// Every source's start-up sync, of content(i, -1), in its registry.
	for added := make(map[string]bool, n); len(added) < n; {
		if d, ok := next().data.(events.RegistryChanged); ok {
			if d.Diff.AddedCount > len(d.Diff.Added) {
				b.Fatalf("registry.changed of %s lists only some names: %+v", d.Registry, d.Diff)
			}
			for _, name := range d.Diff.Added {
				added[name] = true
			}
		}
	}

	// round writes every file and waits for the completed result of each
	// new content and for registry.changed events that name every
	// server updated; results of earlier contents are passed over. Each
	// source changes once a round, so once every server is named the
	// registries hold the round's contents.
	generations := 0
	round := func(r int) (completed, changed time.Duration) {
		hashes := make(map[string]string, n)
		names := make(map[string]bool, n)
		start := time.Now()
		for i, path := range paths {
			c := content(i, r)
			if err := os.WriteFile(path, []byte(c), 0o644); err != nil {
				b.Fatal(err)
			}
			hashes[fmt.Sprintf("s%04d", i)] = registry.Hash([]byte(c))
			names[fmt.Sprintf("io.example/s%04d", i)] = true
		}
		for len(hashes) > 0 || len(names) > 0 {
			s := next()
			switch d := s.data.(type) {
			case events.SyncCompleted:
				if hashes[d.Source] == d.Hash {
					delete(hashes, d.Source)
					completed = max(completed, s.at.Sub(start))
				}
			case events.SyncFailed:
				b.Fatalf("sync of %s failed: %s", d.Source, d.Message)
			case events.RegistryChanged:
				generations++
				if d.Diff.UpdatedCount > len(d.Diff.Updated) {
					b.Fatalf("registry.changed of %s lists only some names: %+v", d.Registry, d.Diff)
				}
				for _, name := range d.Diff.Updated {
					if names[name] {
						delete(names, name)
						changed = max(changed, s.at.Sub(start))
					}
				}
			}
		}
		return completed, changed
	}
	round(0) // every source watched
	var worstCompleted, worstChanged time.Duration
	generations = 0
	for r := 1; b.Loop(); r++ {
		c, ch := round(r)
		worstCompleted, worstChanged = max(worstCompleted, c), max(worstChanged, ch)
	}
	b.ReportMetric(float64(worstCompleted.Milliseconds()), "completed-ms")
	b.ReportMetric(float64(worstChanged.Milliseconds()), "changed-ms")
	b.ReportMetric(float64(generations)/float64(b.N), "generations/round")
}
