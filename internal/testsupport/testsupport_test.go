package testsupport

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
)

// recorder is a testing.TB whose output is kept.
type recorder struct {
	testing.TB
	out Buffer
}

func (r *recorder) Output() io.Writer { return &r.out }

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

func TestLoggerWritesEveryLevelToTheTestOutput(t *testing.T) {
	r := &recorder{TB: t}
	Logger(r).Debug("looked", "file", "registry.json")
	if want := `level=DEBUG msg=looked file=registry.json`; !r.out.Contains(want) {
		t.Errorf("output %q, want %q", r.out.String(), want)
	}
}
