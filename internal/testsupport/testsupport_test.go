package testsupport

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// recorder is a testing.TB that keeps what is logged to it.
type recorder struct {
	testing.TB
	mu    sync.Mutex
	lines []string
}

func (r *recorder) Log(args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, fmt.Sprint(args...))
}

func TestEventuallyReturnsOnceTheConditionHolds(t *testing.T) {
	var looks atomic.Int32
	Eventually(t, "the third look", func() bool { return looks.Add(1) == 3 })
	if n := looks.Load(); n != 3 {
		t.Errorf("looked %d times, want 3", n)
	}
}

func TestBufferTakesConcurrentWriters(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				fmt.Fprintln(&b, "line")
				_ = b.Contains("line")
			}
		})
	}
	wg.Wait()
	if n := b.Count("line\n"); n != 800 {
		t.Errorf("%d lines, want 800", n)
	}
	if b.Contains("missing") {
		t.Error("contains what was never written")
	}
}

func TestWriterLogsEachLine(t *testing.T) {
	r := &recorder{TB: t}
	fmt.Fprint(Writer(r), "one\ntwo\n")
	fmt.Fprint(Writer(r), "three")
	if want := []string{"one", "two", "three"}; !slices.Equal(r.lines, want) {
		t.Errorf("logged %q, want %q", r.lines, want)
	}
}
