package coordinator

import (
	"sync"
	"time"
)

// fakeClock is a clock that stands still until the test moves it: it
// records every pause asked for and runs a pause's function, in the
// caller of advance, once the clock reaches its end.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
	// nows counts the calls of Now.
	nows   int
	asked  []time.Duration
	timers []*fakeTimer
}

// fakeTimer is one pause; nows is how many times Now had been called
// when it was asked for.
type fakeTimer struct {
	at    time.Time
	f     func()
	nows  int
	ended bool // run or stopped
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nows++
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), f: f, nows: c.nows}
	c.asked = append(c.asked, d)
	c.timers = append(c.timers, t)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		was := !t.ended
		t.ended = true
		return was
	}
}

// advance moves the clock forward by d and runs the pauses that end by then.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []func()
	for _, t := range c.timers {
		if !t.ended && !t.at.After(c.now) {
			t.ended = true
			due = append(due, t.f)
		}
	}
	c.mu.Unlock()
	for _, f := range due {
		f()
	}
}

// current is the clock's time, read without counting as a call of Now.
func (c *fakeClock) current() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// advanceTo moves the clock forward to t, if it is not there yet.
func (c *fakeClock) advanceTo(t time.Time) {
	c.advance(max(t.Sub(c.current()), 0))
}

// running returns the pauses not run or stopped yet.
func (c *fakeClock) running() []*fakeTimer {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*fakeTimer
	for _, t := range c.timers {
		if !t.ended {
			out = append(out, t)
		}
	}
	return out
}

func (c *fakeClock) pauses() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.asked...)
}
