package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/bus"
	"github.com/regsync/regsync/internal/registry"
	"github.com/regsync/regsync/internal/testsupport"
)

// registryWith is a valid registry whose first server has the given
// description.
func registryWith(description string) string {
	return strings.Replace(testRegistry, `"Alpha"`, fmt.Sprintf("%q", description), 1)
}

// results follows the result events of a running service.
type results struct {
	t   testing.TB
	sub *nats.Subscription
}

func followResults(t testing.TB, svc *service) *results {
	t.Helper()
	nc, err := bus.Connect(bus.ConnectOptions{URL: svc.natsURL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	sub, err := nc.SubscribeSync(events.AllResults)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return &results{t: t, sub: sub}
}

// next returns the next result's data, or nil after wait.
func (r *results) next(wait time.Duration) events.Data {
	r.t.Helper()
	msg, err := r.sub.NextMsg(wait)
	if err != nil {
		return nil
	}
	ev, err := events.Decode(msg.Header, msg.Data)
	if err != nil {
		r.t.Fatalf("result does not decode: %v", err)
	}
	d, err := events.DataOf(ev)
	if err != nil {
		r.t.Fatal(err)
	}
	return d
}

func (r *results) completed() events.SyncCompleted {
	r.t.Helper()
	for {
		switch d := r.next(testsupport.Patience).(type) {
		case nil:
			r.t.Fatal("no completed result")
		case events.SyncCompleted:
			return d
		case events.SyncSkipped:
			continue // the watcher's first look at an unchanged file
		default:
			r.t.Fatalf("got %T %+v, want completed", d, d)
		}
	}
}

// completedBy waits for a completed result of each named source, passing
// over other results, and returns the first of each.
func (r *results) completedBy(names ...string) map[string]events.SyncCompleted {
	r.t.Helper()
	got := map[string]events.SyncCompleted{}
	for len(got) < len(names) {
		d := r.next(testsupport.Patience)
		if d == nil {
			r.t.Fatalf("no result for %v, want a completed one of each of %v", testsupport.Patience, names)
		}
		if c, ok := d.(events.SyncCompleted); ok && slices.Contains(names, c.Source) {
			if _, seen := got[c.Source]; !seen {
				got[c.Source] = c
			}
		}
	}
	return got
}

// noCompleted checks that no completed or failed result arrives.
func (r *results) noCompleted(within time.Duration) {
	r.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		d := r.next(time.Until(deadline))
		if _, skipped := d.(events.SyncSkipped); d != nil && !skipped {
			r.t.Fatalf("unexpected result %T %+v", d, d)
		}
	}
}

func writeAtomically(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestFileEditsSyncWithoutAsking(t *testing.T) {
	svc := startServe(t)
	res := followResults(t, svc)
	res.noCompleted(300 * time.Millisecond) // settle the start-up look

	t.Run("in-place write", func(t *testing.T) {
		if err := os.WriteFile(svc.regPath, []byte(registryWith("Alpha, in place")), 0o644); err != nil {
			t.Fatal(err)
		}
		c := res.completed()
		if c.Reason != "source-data-changed" || !slices.Equal(c.Diff.Updated, []string{"io.example/alpha"}) {
			t.Errorf("completed %+v", c)
		}
		res.noCompleted(300 * time.Millisecond)
	})
	t.Run("write to a temp file then rename", func(t *testing.T) {
		writeAtomically(t, svc.regPath, registryWith("Alpha, renamed"))
		if c := res.completed(); !slices.Equal(c.Diff.Updated, []string{"io.example/alpha"}) {
			t.Errorf("completed %+v", c)
		}
		res.noCompleted(300 * time.Millisecond)
	})
	t.Run("a touch without change syncs nothing", func(t *testing.T) {
		now := time.Now()
		if err := os.Chtimes(svc.regPath, now, now); err != nil {
			t.Fatal(err)
		}
		res.noCompleted(500 * time.Millisecond)
	})
	t.Run("delete fails with SourceAvailable, re-create syncs", func(t *testing.T) {
		if err := os.Remove(svc.regPath); err != nil {
			t.Fatal(err)
		}
		d := res.next(testsupport.Patience)
		f, ok := d.(events.SyncFailed)
		if !ok || f.ConditionType != "SourceAvailable" || !strings.Contains(f.Message, "file not found") {
			t.Fatalf("got %T %+v, want a SourceAvailable failure", d, d)
		}
		if err := os.WriteFile(svc.regPath, []byte(registryWith("Alpha, back")), 0o644); err != nil {
			t.Fatal(err)
		}
		if c := res.completed(); c.Reason != "registry-not-ready" {
			t.Errorf("completed %+v", c)
		}
	})
	t.Run("1000 rapid writes end in the last content", func(t *testing.T) {
		var last string
		for i := range 1000 {
			last = registryWith(fmt.Sprintf("Alpha, burst %d", i))
			if err := os.WriteFile(svc.regPath, []byte(last), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		// Writes may be synced while they go on (a sync may even fail on
		// content cut short); what is promised is that the last one is
		// synced.
		want := registry.Hash([]byte(last))
		syncs := 0
		for {
			d := res.next(testsupport.Patience)
			if d == nil {
				t.Fatalf("no result for %v and the last write not synced", testsupport.Patience)
			}
			if c, ok := d.(events.SyncCompleted); ok {
				syncs++
				if c.Hash == want {
					break
				}
			}
		}
		testsupport.Eventually(t, "the status of the last write", func() bool {
			out, _, err := cli(t, "status", "local", "-o", "json", "--nats-url", svc.natsURL)
			return err == nil && strings.Contains(out, want) && strings.Contains(out, `"phase": "Complete"`)
		})
		t.Logf("1000 writes, %d syncs", syncs)
	})
}

func TestConfigMapSymlinkSwapSyncs(t *testing.T) {
	dir := t.TempDir()
	// The layout kubelet writes for a ConfigMap volume.
	mount := func(name, content string) {
		ts := filepath.Join(dir, name)
		if err := os.Mkdir(ts, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(ts, "registry.json"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(dir, "..data_tmp")
		if err := os.Symlink(name, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	mount("..2026_11_25_01_00_00.1", testRegistry)
	regPath := filepath.Join(dir, "registry.json")
	if err := os.Symlink(filepath.Join("..data", "registry.json"), regPath); err != nil {
		t.Fatal(err)
	}
	svc := serveFile(t, regPath)
	res := followResults(t, svc)
	res.noCompleted(300 * time.Millisecond)

	mount("..2026_11_25_01_05_00.2", registryWith("Alpha, from the ConfigMap"))
	if c := res.completed(); !slices.Equal(c.Diff.Updated, []string{"io.example/alpha"}) {
		t.Errorf("completed %+v", c)
	}
	res.noCompleted(300 * time.Millisecond)
}

// BenchmarkEditToCompleted measures what a downstream consumer sees: the
// time from a file write to the completed result event on
// regsync.result.>, through the watcher (default debounce), JetStream and
// a sync.
func BenchmarkEditToCompleted(b *testing.B) {
	svc := startServe(b)
	res := followResults(b, svc)
	var took []time.Duration
	for i := 0; b.Loop(); i++ {
		content := registryWith(fmt.Sprintf("Alpha, edit %d", i))
		start := time.Now()
		if err := os.WriteFile(svc.regPath, []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
		res.completed()
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
}
