// Package watchtest is the conformance suite of the producers. Every part
// that stores triggers on its own (the file watcher, the git and HTTP
// pollers, the webhook receiver, the interval fallback) promises the same
// behaviour; TestProducer checks it against each one, through a small
// Harness per producer, as watermill's tests.TestPubSub does for its
// Pub/Subs.
//
// The suite speaks of a source that changes (Set), of the producer looking
// at it again (Settle) and of the revision a trigger names. Each producer
// maps them onto what it watches:
//
//   - File watcher (package watch): Set writes new content to the file; a
//     trigger names the file's digest. Settle waits for a probe file's
//     trigger, which the watcher reads after every earlier change.
//   - Git and HTTP pollers (package watch): Set moves the fake remote's ref
//     or document; a trigger names the commit or digest (an api source
//     names none: its query only tells that something changed). Settle
//     waits for two more checks of the fake remote.
//   - Webhook receiver (package webhook): Set sends a new signed push
//     delivery; a trigger names the pushed commit (a generic delivery names
//     none). Settle redelivers the last push, as a forge does when it
//     missed the answer: the redelivery must collapse, so it is a look at an
//     unchanged source. The receiver runs in the requests it answers and
//     has no loop to stop, so "stops when its context is cancelled" is
//     skipped for it.
//   - Interval fallback (package coordinator): its change is time passing.
//     Set moves the test's clock to the start of the source's next interval
//     slot; the trigger names no revision, so the harness takes the slot
//     its id requests (iv-<source>-<slot>) for one. Settle wakes the loop as
//     a new configuration or a failure's status does, and waits until a
//     round that read the clock after that sleeps again: a wake-up within a
//     slot publishes nothing, and slots that pass faster than the loop runs
//     end with a trigger for the newest.
package watchtest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/regsync/regsync/internal/testsupport"
)

// Trigger is one trigger a producer stored.
type Trigger struct {
	ID       string
	Revision string
}

// Harness runs one producer over one source, with a fake of what the
// producer looks at and a fake of the trigger stream. The suite makes a
// new one for every test.
type Harness interface {
	// Set changes the source to its content number version, as a push, an
	// edit or a new document does, and returns the revision the
	// producer's trigger names for it. The source starts at version 0.
	Set(t *testing.T, version int) string
	// Settle returns once the producer has handled every change made so
	// far and stored what it publishes for them.
	Settle(t *testing.T)
	// Stored returns the triggers stored so far, oldest first.
	Stored() []Trigger
}

// Runner is a Harness whose producer has a loop of its own, run by
// serve until its context is done. A producer without one (the webhook
// receiver, an http.Handler) is run by each request it answers.
type Runner interface {
	Run(ctx context.Context) error
}

// TestProducer runs the suite against the producer that newHarness makes.
func TestProducer(t *testing.T, newHarness func(t *testing.T) Harness) {
	for _, tc := range []struct {
		name string
		test func(t *testing.T, h Harness)
	}{
		{"publishes on change", publishesOnChange},
		{"publishes nothing without change", publishesNothingWithoutChange},
		{"latest change wins", latestChangeWins},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if r, ok := h.(Runner); ok {
				start(t, r)
			}
			h.Settle(t)
			tc.test(t, h)
		})
	}
	t.Run("stops when its context is cancelled", func(t *testing.T) {
		h := newHarness(t)
		r, ok := h.(Runner)
		if !ok {
			t.Skip("the producer has no loop of its own: it runs in the requests it answers")
		}
		stopsOnCancel(t, h, r)
	})
}

// start runs the producer until the test ends; Run must then return nil.
func start(t *testing.T, r Runner) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(testsupport.Patience):
			t.Error("Run did not return after its context was cancelled")
		}
	})
}

// since returns the triggers stored after the first n.
func since(h Harness, n int) []Trigger {
	return slices.Clone(h.Stored()[n:])
}

// A change is published once, naming the revision seen, with an id of its
// own: a change back to an earlier revision (A → B → A) is a new
// observation.
func publishesOnChange(t *testing.T, h Harness) {
	n := len(h.Stored())
	var want []string
	for _, v := range []int{1, 2, 1} {
		want = append(want, h.Set(t, v))
		h.Settle(t)
	}
	got := since(h, n)
	var revs []string
	ids := map[string]bool{}
	for _, tr := range got {
		revs = append(revs, tr.Revision)
		ids[tr.ID] = true
	}
	if !slices.Equal(revs, want) {
		t.Fatalf("A → B → A stored the revisions %q, want %q", revs, want)
	}
	for _, tr := range h.Stored()[:n] {
		ids[tr.ID] = true
	}
	if len(ids) != len(h.Stored()) {
		t.Errorf("triggers share ids: %+v", h.Stored())
	}
}

// A producer that looks again at an unchanged source stores nothing.
func publishesNothingWithoutChange(t *testing.T, h Harness) {
	h.Set(t, 1)
	h.Settle(t)
	n := len(h.Stored())
	for range 3 {
		h.Settle(t)
	}
	if got := since(h, n); len(got) != 0 {
		t.Errorf("an unchanged source stored %+v", got)
	}
}

// Changes made faster than the producer stores them end with the newest:
// the last trigger stored names it, and none names an older revision
// after it.
func latestChangeWins(t *testing.T, h Harness) {
	n := len(h.Stored())
	var last string
	for v := range 5 {
		last = h.Set(t, v+1)
	}
	h.Settle(t)
	got := since(h, n)
	if len(got) == 0 || got[len(got)-1].Revision != last {
		t.Fatalf("after five changes the triggers stored were %+v, want the last to name %q", got, last)
	}
	if len(got) > 5 {
		t.Errorf("five changes stored %d triggers: %+v", len(got), got)
	}
}

// Run returns nil promptly once its context is cancelled, and a change made
// after that is not published.
func stopsOnCancel(t *testing.T, h Harness, r Runner) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer cancel()
	h.Settle(t)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(testsupport.Patience):
		t.Fatal("Run did not return after its context was cancelled")
	}
	n := len(h.Stored())
	h.Set(t, 1)
	if got := since(h, n); len(got) != 0 {
		t.Errorf("a stopped producer stored %+v", got)
	}
}
