package watch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/bus"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/registry"
	"github.com/regsync/regsync/internal/syncer/state"
	"github.com/regsync/regsync/internal/testsupport"
)

// testDebounce is short so that the tests run quickly.
const testDebounce = 20 * time.Millisecond

// call is one Publish call the fake received.
type call struct {
	subject  string
	id       string
	producer string
	source   string
	revision string
	stored   bool
}

// fakePublisher records triggers. It checks that each one survives the
// NATS binding (events.Encode, then events.Decode) and is a valid
// SourceChanged trigger for its subject, as a worker would decode it.
type fakePublisher struct {
	mu    sync.Mutex
	calls []call
	bad   []string
	// fail, when set, makes the calls it returns true for fail.
	fail func(subject string) bool
	// notify, when set, receives the revision of every stored trigger.
	notify chan string
	// trigger is the trigger kind expected; "" means file.
	trigger string
}

// testDeployment is the deployment id of the fake publishers.
const testDeployment = "watchtest"

func testSource(producer string) string { return events.ProducerSource(testDeployment, producer) }

func (p *fakePublisher) Source(producer string) string { return testSource(producer) }

func (p *fakePublisher) Publish(ctx context.Context, subject string, ev event.Event) (bus.Stored, error) {
	return bus.Stored{Event: ev}, p.store(ctx, subject, ev)
}

func (p *fakePublisher) store(ctx context.Context, subject string, ev event.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c := call{subject: subject, id: ev.ID(), producer: ev.Source()}
	msg, err := events.Encode(subject, ev)
	if err == nil {
		ev, err = events.Decode(msg.Header, msg.Data)
	}
	var d events.SourceChanged
	if err == nil {
		d, err = events.DecodeData[events.SourceChanged](ev)
	}
	p.mu.Lock()
	switch {
	case err != nil:
		p.bad = append(p.bad, fmt.Sprintf("%s: %v", subject, err))
	case subject != events.TriggerSubject(d.Source) || d.Trigger != p.wantTrigger():
		p.bad = append(p.bad, fmt.Sprintf("%s: data %+v", subject, d))
	}
	c.source, c.revision = d.Source, d.Revision
	c.stored = p.fail == nil || !p.fail(subject)
	p.calls = append(p.calls, c)
	p.mu.Unlock()
	if !c.stored {
		return errors.New("jetstream unavailable")
	}
	if p.notify != nil {
		p.notify <- c.revision
	}
	return nil
}

func (p *fakePublisher) wantTrigger() string {
	if p.trigger == "" {
		return events.TriggerFile
	}
	return p.trigger
}

func (p *fakePublisher) setFail(f func(subject string) bool) {
	p.mu.Lock()
	p.fail = f
	p.mu.Unlock()
}

// stored returns the triggers stored for source, in order.
func (p *fakePublisher) stored(source string) []call {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []call
	for _, c := range p.calls {
		if c.stored && c.source == source {
			out = append(out, c)
		}
	}
	return out
}

func (p *fakePublisher) attempts(source string) []call {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []call
	for _, c := range p.calls {
		if c.source == source {
			out = append(out, c)
		}
	}
	return out
}

func (p *fakePublisher) revisions(source string) []string {
	var out []string
	for _, c := range p.stored(source) {
		out = append(out, c.revision)
	}
	return out
}

// harness runs a FileWatcher over files in a temporary directory. Next to
// the sources under test it watches a probe file, which settle uses as a
// barrier: inotify delivers the events of one watcher in order, the
// watcher reads files in the order of their events, and with one publish
// at a time triggers are stored in the order they were offered; so once
// the probe's change is stored, every earlier event has been handled and
// what it caused stored (but for content still cut short, which waits).
type harness struct {
	t      *testing.T
	dir    string
	pub    *fakePublisher
	w      *FileWatcher
	probe  string
	probes int
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), pub: &fakePublisher{}}
	h.probe = filepath.Join(h.dir, "probe", "probe.json")
	mustMkdir(t, filepath.Dir(h.probe))
	mustWrite(t, h.probe, `{"probe":0}`)
	h.w = NewFileWatcher(h.pub, &statuses{}, testDebounce, 0, testsupport.Logger(t))
	h.w.triggers.workers = 1
	return h
}

// start runs the watcher over srcs until the test ends and waits for the
// initial triggers.
func (h *harness) start(srcs ...config.Source) {
	h.t.Helper()
	h.setSources(srcs...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.w.Run(ctx) }()
	h.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				h.t.Errorf("Run: %v", err)
			}
		case <-time.After(testsupport.Patience):
			h.t.Error("Run did not return after its context was cancelled")
		}
		h.pub.mu.Lock()
		defer h.pub.mu.Unlock()
		for _, b := range h.pub.bad {
			h.t.Errorf("malformed trigger: %s", b)
		}
	})
	for _, s := range srcs {
		if s.File == nil || s.File.Path == "" {
			continue
		}
		testsupport.Eventually(h.t, "initial trigger of "+s.Name, func() bool { return len(h.pub.stored(s.Name)) > 0 })
	}
}

func (h *harness) setSources(srcs ...config.Source) {
	h.w.SetSources(append([]config.Source{source("probe", h.probe)}, srcs...))
}

func (h *harness) path(rel string) string {
	return filepath.Join(h.dir, rel)
}

// settle returns once the watcher has handled every event caused so far
// and published what it will publish for them.
func (h *harness) settle() {
	h.t.Helper()
	h.probes++
	content := fmt.Sprintf(`{"probe":%d}`, h.probes)
	mustWrite(h.t, h.probe, content)
	testsupport.Eventually(h.t, "probe trigger", func() bool {
		revs := h.pub.revisions("probe")
		return len(revs) > 0 && revs[len(revs)-1] == digest(content)
	})
}

// expect waits until source has at least len(want) stored triggers, lets
// the watcher settle, and then requires exactly the revisions want.
func (h *harness) expect(source string, want ...string) {
	h.t.Helper()
	testsupport.Eventually(h.t, fmt.Sprintf("%d triggers for %s", len(want), source), func() bool {
		return len(h.pub.stored(source)) >= len(want)
	})
	h.settle()
	if got := h.pub.revisions(source); !slices.Equal(got, want) {
		h.t.Fatalf("revisions published for %s:\n got %s\nwant %s", source, short(got), short(want))
	}
}

func source(name, path string) config.Source {
	return config.Source{Name: name, File: &config.File{Path: path}}
}

func digest(content string) string { return registry.Hash([]byte(content)) }

func short(revs []string) string {
	out := make([]string, len(revs))
	for i, r := range revs {
		out[i] = "missing"
		if r != "" {
			out[i] = r[:12]
		}
	}
	return "[" + strings.Join(out, " ") + "]"
}

func mustWrite(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustMkdir(t testing.TB, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// statuses is a fake status bucket: the records a test sets, read alike
// by every producer given it.
type statuses struct {
	mu sync.Mutex
	m  map[string]*state.Status
}

func (s *statuses) Get(_ context.Context, source string) (*state.Status, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.m[source]; ok {
		c := *st
		return &c, 1, nil
	}
	return nil, 0, nil
}

func (s *statuses) set(source string, st state.Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]*state.Status{}
	}
	s.m[source] = &st
}
