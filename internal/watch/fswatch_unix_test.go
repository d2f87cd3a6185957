//go:build unix

package watch

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
)

// A FIFO that takes a watched file's place between the moment the watcher
// decides to read the file and the open (or at any moment: the watcher
// cannot tell) neither blocks the watcher nor stops it: the open does not
// wait for a writer, the FIFO counts as no file, changes of other sources
// are still published, the watcher stops when asked (the harness checks
// that Run returns), and a regular file put back is published again.
func TestFileWatcherSurvivesAFIFOSwappedIn(t *testing.T) {
	h := newHarness(t)
	a, b := h.path("a.json"), h.path("b.json")
	mustWrite(t, a, contentA)
	mustWrite(t, b, contentA)
	fifo := h.path("fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("cannot make a FIFO here: %v", err)
	}
	t.Cleanup(func() {
		// Release a regressed watcher blocked in the open of the FIFO.
		if f, err := os.OpenFile(a, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	var swap atomic.Bool
	h.w.beforeOpen = func(path string) {
		if path == a && swap.CompareAndSwap(true, false) {
			if err := os.Rename(fifo, a); err != nil {
				t.Error(err)
			}
		}
	}
	h.start(source("a", a), source("b", b))
	h.expect("a", digest(contentA))

	swap.Store(true)
	mustWrite(t, a, contentB)
	h.expect("a", digest(contentA), "")
	mustWrite(t, b, contentB)
	h.expect("b", digest(contentA), digest(contentB))

	tmp := filepath.Join(h.dir, "a.tmp")
	mustWrite(t, tmp, contentB)
	if err := os.Rename(tmp, a); err != nil {
		t.Fatal(err)
	}
	h.expect("a", digest(contentA), "", digest(contentB))
}
