// Package testsupport holds what regsync's tests share beside the
// embedded bus of bustest: waiting for a condition instead of sleeping,
// catching what a logger or a command writes while it runs, and a logger
// that writes to the test's output. Only tests import it.
package testsupport

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// Patience bounds every wait of Eventually. It never decides a result on
// a slow machine; it only turns a hang into a failure that names what was
// awaited, well before the test binary's own timeout.
const Patience = time.Minute

// maxPoll is the longest pause between two looks at a condition.
const maxPoll = 20 * time.Millisecond

// Eventually returns once cond holds, looking at it again after a pause
// that starts at a millisecond and grows to maxPoll, and fails the test
// with what it waited for if cond still does not hold after Patience.
// Call it from the test's goroutine.
func Eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(Patience)
	pause := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("waited %v for %s", Patience, what)
		}
		time.Sleep(pause)
		pause = min(2*pause, maxPoll)
	}
}

// Buffer collects what is written to it, safe for writers on other
// goroutines (a logger, a running command) and the test reading at once.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Contains reports whether s has been written.
func (l *Buffer) Contains(s string) bool {
	return strings.Contains(l.String(), s)
}

// Count counts the non-overlapping times s has been written.
func (l *Buffer) Count(s string) int {
	return strings.Count(l.String(), s)
}

// Logger returns a logger of every level, debug included, that writes to
// the test's output: shown beside the test's own lines when it fails (or
// with -v).
func Logger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Returns runs fn and gives its error, failing the test if fn has not
// returned within Patience: what must answer at once and would block
// instead (an open of a FIFO) fails the test rather than hanging the
// suite. fn is left running when it blocks.
func Returns(t testing.TB, what string, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(Patience):
		t.Fatalf("%s blocks", what)
		return nil
	}
}
