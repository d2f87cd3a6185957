// Package burst tells when a burst of HTTP requests has passed, so that
// the memory the burst made the heap grow is given back at once.
//
// A burst of requests (webhook deliveries, 64 clients reading the API)
// grows the heap to what the collector allows for its garbage, and once
// it has passed nothing allocates enough to set off the collection that
// would let the runtime give that memory back: the process stayed at its
// peak until the next burst. A Tracker counts the requests and, once at
// least Size were begun since it last called its function and no request
// has begun for Quiet, calls it (main's memory policy).
package burst

import (
	"net/http"
	"sync/atomic"
	"time"
)

// Size is how many requests make a burst whose memory is worth returning.
const Size = 1000

// Quiet is how long no request may begin before a burst counts as
// passed: far longer than the pause between two requests of one client
// walking a list, short enough that memory falls back soon after.
const Quiet = 250 * time.Millisecond

// Tracker calls its function once a burst of requests has passed. The
// zero value is not usable; use New.
type Tracker struct {
	passed func()
	// after runs f once d has passed (time.AfterFunc; tests replace it).
	after func(d time.Duration, f func())
	// begun counts every request; since those begun since passed was
	// last called; armed is set while a check is scheduled.
	begun, since atomic.Int64
	armed        atomic.Bool
}

// New returns a Tracker that calls passed once a burst has passed.
func New(passed func()) *Tracker {
	return &Tracker{passed: passed, after: func(d time.Duration, f func()) { time.AfterFunc(d, f) }}
}

// Begin counts a request. It schedules a check Quiet later unless one is
// scheduled: requests of a burst cost two atomic additions and a load.
func (t *Tracker) Begin() {
	t.since.Add(1)
	n := t.begun.Add(1)
	if t.armed.CompareAndSwap(false, true) {
		t.schedule(n)
	}
}

// Handler counts every request to h.
func (t *Tracker) Handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Begin()
		h.ServeHTTP(w, r)
	})
}

// schedule checks, Quiet from now, whether a request has begun since the
// seen'th.
func (t *Tracker) schedule(seen int64) {
	t.after(Quiet, func() { t.check(seen) })
}

// check runs Quiet after the seen'th request began. While requests go on
// it looks again Quiet later; once none has begun for Quiet it calls
// passed if a burst was handled since the last call.
func (t *Tracker) check(seen int64) {
	// Disarmed before the count is read: a request that begins after the
	// read finds the tracker disarmed and schedules its own check.
	t.armed.Store(false)
	if n := t.begun.Load(); n != seen {
		if t.armed.CompareAndSwap(false, true) {
			t.schedule(n)
		}
		return
	}
	if n := t.since.Load(); n >= Size && t.since.CompareAndSwap(n, 0) {
		t.passed()
	}
}
