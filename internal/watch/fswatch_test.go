package watch

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/fsnotify/fsnotify"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/bus"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/retry"
	"github.com/regsync/regsync/internal/testsupport"
)

const (
	contentA = `{"servers":[{"name":"a"}]}`
	contentB = `{"servers":[{"name":"b"}]}`
	contentC = `{"servers":[{"name":"c"}]}`
)

// Each way of writing a file publishes exactly one trigger per content
// change, after the one published at start.
func TestFileWatcherWritePatterns(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// setup lays out the files and returns the watched path.
		setup func(t *testing.T, h *harness) string
		// change changes the content from contentA to contentB.
		change func(t *testing.T, h *harness, path string)
	}{
		{
			name: "in-place write",
			setup: func(t *testing.T, h *harness) string {
				p := h.path("registry.json")
				mustWrite(t, p, contentA)
				return p
			},
			change: func(t *testing.T, h *harness, p string) {
				f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
				must(t, err)
				_, err = f.WriteString(contentB)
				must(t, err)
				must(t, f.Close())
			},
		},
		{
			name: "write to temp then rename",
			setup: func(t *testing.T, h *harness) string {
				p := h.path("registry.json")
				mustWrite(t, p, contentA)
				return p
			},
			change: func(t *testing.T, h *harness, p string) {
				tmp := p + ".tmp123"
				mustWrite(t, tmp, contentB)
				must(t, os.Rename(tmp, p))
			},
		},
		{
			name: "editor backup and rename",
			setup: func(t *testing.T, h *harness) string {
				p := h.path("registry.json")
				mustWrite(t, p, contentA)
				return p
			},
			change: func(t *testing.T, h *harness, p string) {
				must(t, os.Rename(p, p+"~"))
				mustWrite(t, p, contentB)
				must(t, os.Remove(p+"~"))
			},
		},
		{
			name: "ConfigMap volume symlink swap",
			setup: func(t *testing.T, h *harness) string {
				vol := h.path("config")
				writeConfigMapData(t, vol, "..2026_11_25_10_00_00.000000001", contentA)
				must(t, os.Symlink("..2026_11_25_10_00_00.000000001", filepath.Join(vol, "..data")))
				must(t, os.Symlink("..data/registry.json", filepath.Join(vol, "registry.json")))
				return filepath.Join(vol, "registry.json")
			},
			change: func(t *testing.T, h *harness, p string) {
				vol := filepath.Dir(p)
				writeConfigMapData(t, vol, "..2026_11_25_10_05_00.000000002", contentB)
				must(t, os.Symlink("..2026_11_25_10_05_00.000000002", filepath.Join(vol, "..data_tmp")))
				must(t, os.Rename(filepath.Join(vol, "..data_tmp"), filepath.Join(vol, "..data")))
				must(t, os.RemoveAll(filepath.Join(vol, "..2026_11_25_10_00_00.000000001")))
			},
		},
		{
			name: "symlink target written in place",
			setup: func(t *testing.T, h *harness) string {
				mustMkdir(t, h.path("shared"))
				mustMkdir(t, h.path("conf"))
				mustWrite(t, h.path("shared/registry.json"), contentA)
				must(t, os.Symlink(h.path("shared/registry.json"), h.path("conf/registry.json")))
				return h.path("conf/registry.json")
			},
			change: func(t *testing.T, h *harness, p string) {
				f, err := os.OpenFile(h.path("shared/registry.json"), os.O_WRONLY|os.O_TRUNC, 0)
				must(t, err)
				_, err = f.WriteString(contentB)
				must(t, err)
				must(t, f.Close())
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			p := tc.setup(t, h)
			h.start(source("a", p))
			h.expect("a", digest(contentA))
			tc.change(t, h, p)
			h.expect("a", digest(contentA), digest(contentB))
		})
	}
}

func writeConfigMapData(t *testing.T, vol, stamp, content string) {
	t.Helper()
	mustMkdir(t, filepath.Join(vol, stamp))
	mustWrite(t, filepath.Join(vol, stamp, "registry.json"), content)
}

func TestFileWatcherLifecycle(t *testing.T) {
	t.Parallel()

	t.Run("delete then re-create publishes missing, then the digest", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		p := h.path("registry.json")
		mustWrite(t, p, contentA)
		h.start(source("a", p))
		must(t, os.Remove(p))
		h.expect("a", digest(contentA), "")
		mustWrite(t, p, contentB)
		h.expect("a", digest(contentA), "", digest(contentB))
	})

	t.Run("file created after start", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		p := h.path("registry.json")
		h.start(source("a", p))
		h.expect("a", "")
		mustWrite(t, p, contentA)
		h.expect("a", "", digest(contentA))
	})

	t.Run("file created after start in directories created after start", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		p := h.path("x/y/registry.json")
		h.start(source("a", p))
		h.expect("a", "")
		mustMkdir(t, h.path("x"))
		h.settle()
		mustMkdir(t, h.path("x/y"))
		mustWrite(t, p, contentA)
		h.expect("a", "", digest(contentA))
		// The watch moved down to x/y: in-place writes there are seen.
		mustWrite(t, p, contentB)
		h.expect("a", "", digest(contentA), digest(contentB))
	})

	t.Run("directory removed and re-created", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		p := h.path("sub/registry.json")
		mustMkdir(t, h.path("sub"))
		mustWrite(t, p, contentA)
		h.start(source("a", p))
		must(t, os.RemoveAll(h.path("sub")))
		h.expect("a", digest(contentA), "")
		mustMkdir(t, h.path("sub"))
		mustWrite(t, p, contentB)
		h.expect("a", digest(contentA), "", digest(contentB))
		mustWrite(t, p, contentC)
		h.expect("a", digest(contentA), "", digest(contentB), digest(contentC))
	})

	t.Run("one directory under two names", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		mustMkdir(t, h.path("real"))
		must(t, os.Symlink("real", h.path("alias")))
		mustWrite(t, h.path("real/one.json"), contentA)
		mustWrite(t, h.path("real/two.json"), contentA)
		h.start(source("one", h.path("alias/one.json")), source("two", h.path("real/two.json")))
		mustWrite(t, h.path("real/one.json"), contentB)
		mustWrite(t, h.path("real/two.json"), contentB)
		h.expect("one", digest(contentA), digest(contentB))
		h.expect("two", digest(contentA), digest(contentB))
	})

	t.Run("directory replaced by rename", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		p := h.path("sub/registry.json")
		mustMkdir(t, h.path("sub"))
		mustWrite(t, p, contentA)
		h.start(source("a", p))
		h.expect("a", digest(contentA))
		mustMkdir(t, h.path("sub.new"))
		mustWrite(t, h.path("sub.new/registry.json"), contentB)
		must(t, os.Rename(h.path("sub"), h.path("sub.old")))
		must(t, os.Rename(h.path("sub.new"), h.path("sub")))
		testsupport.Eventually(t, "trigger for the new directory", func() bool {
			revs := h.pub.revisions("a")
			return revs[len(revs)-1] == digest(contentB)
		})
		h.settle()
		// The swap is two renames; a check that falls between them sees
		// the file missing, which is a fair report.
		got := h.pub.revisions("a")
		if want, alt := []string{digest(contentA), digest(contentB)}, []string{digest(contentA), "", digest(contentB)}; !slices.Equal(got, want) && !slices.Equal(got, alt) {
			t.Fatalf("revisions %s", short(got))
		}
		// The new directory is watched: in-place writes there are seen,
		// and the old one, renamed away, is not.
		mustWrite(t, h.path("sub.old/registry.json"), contentC)
		mustWrite(t, p, contentC)
		h.expect("a", append(got, digest(contentC))...)
	})
}

func TestFileWatcherPublishesOnlyChanges(t *testing.T) {
	t.Parallel()

	t.Run("a touch and an identical rewrite publish nothing", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		p := h.path("registry.json")
		mustWrite(t, p, contentA)
		h.start(source("a", p))
		h.expect("a", digest(contentA))
		later := time.Now().Add(time.Hour)
		must(t, os.Chtimes(p, later, later))
		mustWrite(t, p, contentA)
		must(t, os.Chmod(p, 0o600))
		h.expect("a", digest(contentA))
	})

	t.Run("1000 rapid writes end in the last content, each published once", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		p := h.path("registry.json")
		mustWrite(t, p, contentA)
		h.start(source("a", p))
		h.expect("a", digest(contentA))
		final := ""
		for i := range 1000 {
			final = fmt.Sprintf(`{"servers":[],"n":%d}`, i)
			mustWrite(t, p, final)
		}
		testsupport.Eventually(t, "the final content published", func() bool {
			revs := h.pub.revisions("a")
			return revs[len(revs)-1] == digest(final)
		})
		h.settle()
		revs := h.pub.revisions("a")
		t.Logf("%d triggers for 1000 writes", len(revs)-1)
		if last := revs[len(revs)-1]; last != digest(final) {
			t.Errorf("last revision %s, want the final content's %s", last, digest(final))
		}
		for i := 1; i < len(revs); i++ {
			if revs[i] == revs[i-1] {
				t.Errorf("revision %s published twice in a row", revs[i][:12])
			}
		}
	})

	t.Run("A to B to A is three observations with distinct ids", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		p := h.path("registry.json")
		mustWrite(t, p, contentA)
		h.start(source("a", p))
		h.expect("a", digest(contentA))
		mustWrite(t, p, contentB)
		h.expect("a", digest(contentA), digest(contentB))
		mustWrite(t, p, contentA)
		h.expect("a", digest(contentA), digest(contentB), digest(contentA))
		must(t, os.Remove(p))
		h.expect("a", digest(contentA), digest(contentB), digest(contentA), "")

		idPattern := regexp.MustCompile(`^file-a-([0-9a-f]{12}|missing)-0(-[0-9]+)?$`)
		seen := map[string]bool{}
		for _, c := range h.pub.stored("a") {
			if !idPattern.MatchString(c.id) {
				t.Errorf("event id %q does not match %s", c.id, idPattern)
			}
			if want := "missing"; c.revision == "" && !strings.Contains(c.id, want) || c.revision != "" && !strings.Contains(c.id, c.revision[:12]) {
				t.Errorf("event id %q does not name revision %q", c.id, c.revision)
			}
			if want := testSource(events.ProducerFileWatcher); c.producer != want {
				t.Errorf("event source %q, want %q", c.producer, want)
			}
			if seen[c.id] {
				t.Errorf("event id %q published twice", c.id)
			}
			seen[c.id] = true
		}
	})

	t.Run("two sources on one file both get triggers", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		p := h.path("registry.json")
		mustWrite(t, p, contentA)
		h.start(source("a", p), source("b", p))
		h.expect("a", digest(contentA))
		h.expect("b", digest(contentA))
		mustWrite(t, p, contentB)
		h.expect("a", digest(contentA), digest(contentB))
		h.expect("b", digest(contentA), digest(contentB))
		if subjects := subjectsOf(h.pub.stored("b")); subjects[0] != events.TriggerSubject("b") {
			t.Errorf("subject %q", subjects[0])
		}
	})

	t.Run("two files in one directory each publish their own change", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		mustWrite(t, h.path("one.json"), contentA)
		mustWrite(t, h.path("two.json"), contentA)
		h.start(source("one", h.path("one.json")), source("two", h.path("two.json")))
		mustWrite(t, h.path("two.json"), contentB)
		h.expect("two", digest(contentA), digest(contentB))
		h.expect("one", digest(contentA))
	})
}

func subjectsOf(calls []call) []string {
	var out []string
	for _, c := range calls {
		out = append(out, c.subject)
	}
	return out
}

func TestFileWatcherPartialWrites(t *testing.T) {
	t.Parallel()
	const half = `{"servers":[{"name":`

	t.Run("a write completed within the settle bound publishes once", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		p := h.path("registry.json")
		mustWrite(t, p, contentA)
		h.start(source("a", p))
		h.expect("a", digest(contentA))
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
		must(t, err)
		_, err = f.WriteString(half)
		must(t, err)
		// A slow writer: several debounce periods pass before it is done.
		time.Sleep(5 * testDebounce)
		_, err = f.WriteString(`"b"}]}`)
		must(t, err)
		must(t, f.Close())
		h.expect("a", digest(contentA), digest(contentB))
	})

	t.Run("a write never completed is published after the settle bound", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		p := h.path("registry.json")
		mustWrite(t, p, contentA)
		h.start(source("a", p))
		h.expect("a", digest(contentA))
		start := time.Now()
		mustWrite(t, p, half)
		h.expect("a", digest(contentA), digest(half))
		if waited := time.Since(start); waited < settleWait {
			t.Errorf("invalid content published after %v, before the settle bound %v", waited, settleWait)
		}
	})

	t.Run("an invalid file at start is published after the settle bound", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		p := h.path("registry.json")
		mustWrite(t, p, "not json")
		h.start(source("a", p))
		h.expect("a", digest("not json"))
	})
}

func TestFileWatcherSetSources(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	pa, pb := h.path("a.json"), h.path("b.json")
	mustWrite(t, pa, contentA)
	mustWrite(t, pb, contentB)
	notWatched := []config.Source{
		{Name: "git", Git: &config.Git{Repository: "https://example.com/r.git"}},
		{Name: "remote", File: &config.File{URL: "https://example.com/r.json"}},
	}
	h.start(append([]config.Source{source("a", pa)}, notWatched...)...)
	h.expect("a", digest(contentA))

	// Adding b publishes b's current revision, and nothing for a.
	h.setSources(source("a", pa), source("b", pb))
	h.expect("b", digest(contentB))
	h.expect("a", digest(contentA))

	// Removing a stops its triggers; b goes on.
	h.setSources(source("b", pb))
	h.settle()
	mustWrite(t, pa, contentC)
	mustWrite(t, pb, contentC)
	h.expect("b", digest(contentB), digest(contentC))
	h.expect("a", digest(contentA))

	// Added again, a publishes what it finds, as at start.
	h.setSources(source("a", pa), source("b", pb))
	h.expect("a", digest(contentA), digest(contentC))

	// A source whose path changes starts over with the new file.
	h.setSources(source("a", pb), source("b", pb))
	h.expect("a", digest(contentA), digest(contentC), digest(contentC))
	h.expect("b", digest(contentB), digest(contentC))
	for _, s := range notWatched {
		if calls := h.pub.attempts(s.Name); len(calls) > 0 {
			t.Errorf("%s: %d triggers for a source without a local file", s.Name, len(calls))
		}
	}
}

func TestFileWatcherPublishErrors(t *testing.T) {
	t.Parallel()

	t.Run("failed publishes are retried with the same event", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		p := h.path("registry.json")
		mustWrite(t, p, contentA)
		failures := 0
		h.pub.setFail(func(subject string) bool {
			if subject == events.TriggerSubject("a") && failures < 3 {
				failures++
				return true
			}
			return false
		})
		h.start(source("a", p))
		h.expect("a", digest(contentA))
		attempts := h.pub.attempts("a")
		if len(attempts) != 4 {
			t.Fatalf("%d attempts, want 3 failed and 1 stored", len(attempts))
		}
		for _, c := range attempts {
			if c.id != attempts[3].id {
				t.Errorf("retry with id %q, want the same event %q", c.id, attempts[3].id)
			}
		}
		// The watcher goes on.
		mustWrite(t, p, contentB)
		h.expect("a", digest(contentA), digest(contentB))
	})

	t.Run("an outage longer than a few tries loses no change", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		retry := h.w.triggers.producer.Retry
		retry.First, retry.Limit = time.Millisecond, time.Millisecond
		h.w.triggers.producer.Retry = retry
		p := h.path("registry.json")
		mustWrite(t, p, contentA)
		failures := 0
		h.pub.setFail(func(subject string) bool {
			if subject == events.TriggerSubject("a") && failures < 20 {
				failures++
				return true
			}
			return false
		})
		h.start(source("a", p))
		h.expect("a", digest(contentA))
		if n := len(h.pub.attempts("a")); n != 21 {
			t.Errorf("%d attempts, want 20 failed and 1 stored", n)
		}
	})

	t.Run("a trigger given up on is offered again by the next check", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		h.w.triggers.producer.Retry = retry.Backoff{Attempts: 3, First: time.Millisecond, Limit: 2 * time.Millisecond, Timeout: time.Second}
		p := h.path("registry.json")
		mustWrite(t, p, contentA)
		down := func(subject string) bool { return subject == events.TriggerSubject("a") }
		h.pub.setFail(down)
		h.start()
		h.setSources(source("a", p))
		testsupport.Eventually(t, "three attempts", func() bool { return len(h.pub.attempts("a")) >= 3 })
		h.settle()
		if n := len(h.pub.attempts("a")); n != 3 {
			t.Fatalf("%d attempts, want 3", n)
		}
		h.pub.setFail(nil)
		// Nothing changed, but nothing was stored either.
		later := time.Now().Add(time.Hour)
		must(t, os.Chtimes(p, later, later))
		h.expect("a", digest(contentA))
	})
}

func TestFileWatcherRun(t *testing.T) {
	t.Parallel()

	t.Run("returns when cancelled during a publish", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		mustWrite(t, filepath.Join(dir, "r.json"), contentA)
		entered := make(chan struct{}, 1)
		pub := publisherFunc(func(ctx context.Context, _ string, _ event.Event) error {
			entered <- struct{}{}
			<-ctx.Done()
			return ctx.Err()
		})
		w := NewFileWatcher(pub, &statuses{}, testDebounce, 0, testsupport.Logger(t))
		w.SetSources([]config.Source{source("a", filepath.Join(dir, "r.json"))})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		<-entered
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(testsupport.Patience):
			t.Fatal("Run did not return")
		}
	})

	t.Run("refuses to run twice at once and runs again after", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		p := h.path("registry.json")
		mustWrite(t, p, contentA)
		h.start(source("a", p))
		if err := h.w.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "already running") {
			t.Errorf("second Run: %v", err)
		}
	})

	t.Run("a second Run publishes every file again", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		p := filepath.Join(dir, "r.json")
		mustWrite(t, p, contentA)
		pub := &fakePublisher{}
		w := NewFileWatcher(pub, &statuses{}, testDebounce, 0, testsupport.Logger(t))
		w.SetSources([]config.Source{source("a", p)})
		for i := 1; i <= 2; i++ {
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- w.Run(ctx) }()
			testsupport.Eventually(t, "trigger", func() bool { return len(pub.stored("a")) == i })
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
	})
}

type publisherFunc func(ctx context.Context, subject string, ev event.Event) error

func (f publisherFunc) Publish(ctx context.Context, subject string, ev event.Event) (bus.Stored, error) {
	return bus.Stored{Event: ev}, f(ctx, subject, ev)
}

func (publisherFunc) Source(producer string) string { return testSource(producer) }

func TestFileRevision(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "valid.json"), contentA)
	mustWrite(t, filepath.Join(dir, "half.json"), `{"servers":[`)
	mustWrite(t, filepath.Join(dir, "empty.json"), ``)
	mustMkdir(t, filepath.Join(dir, "dir.json"))
	big := filepath.Join(dir, "big.json")
	f, err := os.Create(big)
	must(t, err)
	must(t, f.Truncate(defaultMaxSize+1))
	must(t, f.Close())
	bigInfo, err := os.Stat(big)
	must(t, err)

	tests := []struct {
		name     string
		path     string
		revision string
		partial  bool
		err      string
	}{
		{"valid JSON: the fetcher's digest", "valid.json", digest(contentA), false, ""},
		{"invalid JSON is partial", "half.json", digest(`{"servers":[`), true, ""},
		{"an empty file is partial", "empty.json", digest(""), true, ""},
		{"missing", "nope.json", "", false, ""},
		{"a file in place of a directory", "valid.json/registry.json", "", false, ""},
		{"a directory", "dir.json", "", false, "is a directory"},
		{"over the size limit: size and time, unread", "big.json", oversize(bigInfo), false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rev, partial, err := fileRevision(filepath.Join(dir, tc.path), defaultMaxSize, make([]byte, 512), nil)
			if rev != tc.revision || partial != tc.partial {
				t.Errorf("got (%q, %v), want (%q, %v)", rev, partial, tc.revision, tc.partial)
			}
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("err %v, want %q", err, tc.err)
			}
		})
	}
	if oversize(bigInfo) == "" || len(oversize(bigInfo)) != 64 {
		t.Errorf("oversize revision %q is not a digest", oversize(bigInfo))
	}
}

// The watcher reads a file for its digest up to the limit the fetcher
// reads it to (sync.maxDataSize), not up to that setting's default: a
// file within the configured limit gets the digest the sync stores, so a
// touch that changes nothing is not taken for a change, and a file over
// it gets a revision of its size and time.
func TestFileRevisionReadsUpToTheConfiguredLimit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "registry.json")
	mustWrite(t, path, contentA)
	info, err := os.Stat(path)
	must(t, err)
	for _, tc := range []struct {
		name  string
		limit int64
		want  string
	}{
		{"within the limit: the fetcher's digest", info.Size(), digest(contentA)},
		{"over the limit: size and time", info.Size() - 1, oversize(info)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := NewFileWatcher(&fakePublisher{}, &statuses{}, testDebounce, tc.limit, nil)
			rev, _, err := fileRevision(path, w.maxSize, make([]byte, 512), nil)
			if err != nil || rev != tc.want {
				t.Errorf("revision %q, %v; want %q", rev, err, tc.want)
			}
		})
	}
}

// BenchmarkEditToPublish measures the time from writing new content to a
// watched file until its trigger is stored, for the debounce used in the
// tests and the default one.
func BenchmarkEditToPublish(b *testing.B) {
	for _, debounce := range []time.Duration{time.Millisecond, testDebounce, time.Duration(config.Default().Watch.Debounce)} {
		b.Run("debounce="+debounce.String(), func(b *testing.B) {
			p := filepath.Join(b.TempDir(), "registry.json")
			mustWrite(b, p, `{"n":-1}`)
			pub := &fakePublisher{notify: make(chan string, 1024)}
			w := NewFileWatcher(pub, &statuses{}, debounce, 0, nil)
			w.SetSources([]config.Source{source("bench", p)})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- w.Run(ctx) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					b.Error(err)
				}
			}()
			<-pub.notify // the initial trigger

			i := 0
			for b.Loop() {
				content := fmt.Sprintf(`{"n":%d}`, i)
				i++
				want := digest(content)
				mustWrite(b, p, content)
				for rev := range pub.notify {
					if rev == want {
						break
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/edit")
		})
	}
}

// After an fsnotify error, an overflow above all, events may have been
// lost: every watched file is checked again. The loop is driven by hand
// here, with no events read, as if they had all been lost.
func TestFileWatcherErrorRechecksEveryFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	one, two := filepath.Join(dir, "one.json"), filepath.Join(dir, "sub", "two.json")
	mustWrite(t, one, contentA)
	mustMkdir(t, filepath.Dir(two))
	mustWrite(t, two, contentA)
	fsw, err := fsnotify.NewWatcher()
	must(t, err)
	t.Cleanup(func() { fsw.Close() })

	w := NewFileWatcher(&fakePublisher{}, &statuses{}, testDebounce, 0, testsupport.Logger(t))
	w.SetSources([]config.Source{source("one", one), source("two", two)})
	l := &fileLoop{w: w, fsw: fsw, files: map[string]*watchedFile{}, byName: map[string][]*watchedFile{}, addErr: map[string]string{}}
	want, _ := w.takeSources()
	l.apply(want)
	now := time.Now()
	l.checkDue(now)
	for _, name := range []string{"one", "two"} {
		if rev, _ := w.triggers.sources[name].latest(); rev != digest(contentA) {
			t.Fatalf("%s: initial revision %q", name, rev)
		}
	}

	mustWrite(t, one, contentB)
	mustWrite(t, two, contentC)
	l.handleError(fsnotify.ErrEventOverflow)
	for _, f := range l.files {
		if f.due.IsZero() {
			t.Errorf("%s: no check scheduled after the error", f.path)
		}
	}
	l.checkDue(now.Add(time.Minute))
	for name, content := range map[string]string{"one": contentB, "two": contentC} {
		if rev, _ := w.triggers.sources[name].latest(); rev != digest(content) {
			t.Errorf("%s: revision %q after the re-check, want %q", name, rev, digest(content))
		}
	}
}

// A file written without pause is still read and published while the
// writes go on.
func TestFileWatcherContinuousWrites(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	p := h.path("registry.json")
	mustWrite(t, p, contentA)
	h.start(source("a", p))
	h.expect("a", digest(contentA))
	stop := make(chan struct{})
	written := make(chan struct{})
	go func() {
		defer close(written)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			// Each write is complete, valid JSON, and faster than the
			// debounce period.
			tmp := fmt.Sprintf("%s.%d", p, i)
			if err := os.WriteFile(tmp, fmt.Appendf(nil, `{"n":%d}`, i), 0o644); err != nil {
				t.Error(err)
				return
			}
			if err := os.Rename(tmp, p); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(testDebounce / 4)
		}
	}()
	testsupport.Eventually(t, "a trigger while writes go on", func() bool { return len(h.pub.stored("a")) >= 2 })
	close(stop)
	<-written
}

// Events for other names in a watched directory are not the file's: a log
// file written next to a big registry must not re-read it. The watched
// file's content is changed here through a hard link in another
// directory, which raises no event in the watched one; a read caused by
// the unrelated file would publish it.
func TestFileWatcherIgnoresOtherNames(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	p := h.path("registry.json")
	mustWrite(t, p, contentA)
	elsewhere := filepath.Join(t.TempDir(), "link.json")
	must(t, os.Link(p, elsewhere))
	h.start(source("a", p))
	h.expect("a", digest(contentA))

	f, err := os.OpenFile(elsewhere, os.O_WRONLY|os.O_TRUNC, 0)
	must(t, err)
	_, err = f.WriteString(contentB)
	must(t, err)
	must(t, f.Close())
	for i := range 5 {
		mustWrite(t, h.path("server.log"), fmt.Sprintf("line %d\n", i))
	}
	mustWrite(t, h.path(".registry.json.swp"), "x")
	h.expect("a", digest(contentA))

	// An event for the file itself reads it.
	later := time.Now().Add(time.Hour)
	must(t, os.Chtimes(p, later, later))
	h.expect("a", digest(contentA), digest(contentB))
}

// A complete write is published at once: the debounce period only paces
// content that is cut short. With a debounce of an hour, an edit is still
// published, and so is a rename into place.
func TestFileWatcherPublishesCompleteWritesWithoutWaiting(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.w = NewFileWatcher(h.pub, &statuses{}, time.Hour, 0, testsupport.Logger(t))
	h.w.triggers.workers = 1
	p := h.path("registry.json")
	mustWrite(t, p, contentA)
	h.start(source("a", p))
	h.expect("a", digest(contentA))
	mustWrite(t, p, contentB)
	h.expect("a", digest(contentA), digest(contentB))
	tmp := h.path(".registry.json.tmp")
	mustWrite(t, tmp, contentC)
	must(t, os.Rename(tmp, p))
	h.expect("a", digest(contentA), digest(contentB), digest(contentC))
}

// fileRevision streams the file through the hash: reading a file of many
// megabytes allocates a small buffer, not the file.
func TestFileRevisionStreams(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big.json")
	const size = 32 << 20
	mustWrite(t, p, `{"pad":"`+strings.Repeat("x", size)+`"}`)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rev, partial, err := fileRevision(p, defaultMaxSize, make([]byte, readBufferSize), nil)
	runtime.ReadMemStats(&after)
	if err != nil || partial || rev == "" {
		t.Fatalf("fileRevision: %q %v %v", rev, partial, err)
	}
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > 1<<20 {
		t.Errorf("hashing a %d MiB file allocated %d KiB", size>>20, allocated>>10)
	}
}

func TestDocShape(t *testing.T) {
	tests := []struct {
		doc      string
		complete bool
	}{
		{``, false},
		{"  \n", false},
		{`{`, false},
		{`{"servers":[`, false},
		{`{"servers":[{"name":"a"}]`, false},
		{`{"a":"}"`, false},
		{`{"a":"\"}"`, false},
		{`{"a":"\\"`, false},
		{`{"a":"x\`, false},
		{`{}`, true},
		{`[]`, true},
		{`{"a":"}{]["}`, true},
		{`{"a":"\"}"}`, true},
		{`{"a":"\\"}`, true},
		{"{\"servers\":[{\"name\":\"a\"}]}\n", true},
		{`not json`, true},
		{`42`, true},
	}
	for _, tc := range tests {
		for _, chunk := range []int{1, 3, 1 << 10} {
			var d docShape
			for i := 0; i < len(tc.doc); i += chunk {
				d.Write([]byte(tc.doc[i:min(i+chunk, len(tc.doc))]))
			}
			if d.complete() != tc.complete {
				t.Errorf("%q in chunks of %d: complete %v, want %v", tc.doc, chunk, d.complete(), tc.complete)
			}
		}
	}
}

// Every strict prefix of a JSON object or array is cut short; the whole is
// complete.
func FuzzDocShape(f *testing.F) {
	for _, seed := range []string{contentA, contentB, `{"a":"\\\"","b":[1,{"c":null}]}`, `[]`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		trimmed := strings.TrimSpace(doc)
		if !json.Valid([]byte(doc)) || trimmed == "" || (trimmed[0] != '{' && trimmed[0] != '[') {
			return
		}
		end := strings.LastIndexAny(doc, "}]") + 1
		for i := 0; i <= len(doc); i++ {
			var d docShape
			d.Write([]byte(doc[:i]))
			if want := i >= end; d.complete() != want {
				t.Fatalf("%q: complete %v, want %v", doc[:i], d.complete(), want)
			}
		}
	})
}

// defaultMaxSize is sync.maxDataSize's default.
var defaultMaxSize = config.Default().Sync.MaxDataSize.Int64()
