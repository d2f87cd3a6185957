//go:build unix

package testsupport

import (
	"os"
	"syscall"
	"testing"
)

// FIFO makes a named pipe at path, or skips the test where none can be
// made. Opening one for reading blocks until a writer comes, which is the
// hang the tests that use it guard against: when the test ends, FIFO
// opens it for writing a few times, so that readers a regression left
// blocked in their open are released.
func FIFO(t testing.TB, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("cannot make a FIFO here: %v", err)
	}
	t.Cleanup(func() {
		for range 8 {
			if f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				f.Close()
			}
		}
	})
}
