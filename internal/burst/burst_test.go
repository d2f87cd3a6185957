package burst

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// clock holds the checks a Tracker scheduled until the test lets Quiet
// pass.
type clock struct {
	mu      sync.Mutex
	pending []func()
}

func (c *clock) after(d time.Duration, f func()) {
	if d != Quiet {
		panic("check scheduled for another delay than Quiet")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending = append(c.pending, f)
}

// pass lets Quiet pass: it runs the checks scheduled so far and reports
// how many there were.
func (c *clock) pass() int {
	c.mu.Lock()
	due := c.pending
	c.pending = nil
	c.mu.Unlock()
	for _, f := range due {
		f()
	}
	return len(due)
}

// quiet lets Quiet pass until no check is scheduled: no request begins
// for a while.
func (c *clock) quiet() {
	for range 10 {
		if c.pass() == 0 {
			return
		}
	}
	panic("checks still scheduled after ten quiet moments with no request")
}

func newTestTracker() (*Tracker, *clock, *int) {
	calls := 0
	c := &clock{}
	t := New(func() { calls++ })
	t.after = c.after
	return t, c, &calls
}

// requests begins n requests from 16 clients at once.
func requests(t *Tracker, n int) {
	next := make(chan struct{})
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range next {
				t.Begin()
			}
		})
	}
	for range n {
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
}

func TestPassedOnceABurstHasPassed(t *testing.T) {
	tr, c, calls := newTestTracker()

	requests(tr, Size-1)
	c.quiet()
	if *calls != 0 {
		t.Fatalf("passed called %d times after %d requests, fewer than a burst", *calls, Size-1)
	}

	requests(tr, 1)
	c.quiet()
	if *calls != 1 {
		t.Fatalf("passed called %d times once %d requests were followed by a quiet moment, want once", *calls, Size)
	}

	requests(tr, 10)
	c.quiet()
	if *calls != 1 {
		t.Errorf("passed called %d times, want no more for 10 requests after the burst", *calls)
	}
}

func TestNotPassedWhileRequestsGoOn(t *testing.T) {
	tr, c, calls := newTestTracker()
	requests(tr, 2*Size)
	// Requests keep beginning every time Quiet is about to pass: the
	// burst has not passed yet, and one check at a time is scheduled.
	for range 5 {
		tr.Begin()
		if n := c.pass(); n != 1 {
			t.Fatalf("%d checks were due, want 1", n)
		}
		if *calls != 0 {
			t.Fatalf("passed called while requests go on")
		}
	}
	if n := c.pass(); n != 1 {
		t.Fatalf("%d checks were due once requests stopped, want 1", n)
	}
	if *calls != 1 {
		t.Errorf("passed called %d times once requests stopped, want once", *calls)
	}
	if n := c.pass(); n != 0 {
		t.Errorf("%d checks scheduled with no request, want none", n)
	}
}

func TestHandlerCountsEveryRequest(t *testing.T) {
	tr, c, calls := newTestTracker()
	served := 0
	h := tr.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served++ }))
	for range Size {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	}
	c.quiet()
	if served != Size || *calls != 1 {
		t.Errorf("served %d requests, passed called %d times; want %d and once", served, *calls, Size)
	}
}
