package coordinator

import "time"

// clock tells the time and runs a function once a while has passed: the
// wall clock, or a test's, so that pauses and schedules are tested without
// waiting for them.
type clock interface {
	Now() time.Time
	// AfterFunc runs f in its own goroutine after d and returns what
	// stops it.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) AfterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
