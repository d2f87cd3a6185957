//go:build unix

package bus

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/regsync/regsync/internal/testsupport"
)

// A FIFO at the password file's place is refused at once: opening it for
// reading waited for a writer, which hung the start.
func TestReadPasswordRefusesAFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nats-password")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("cannot make a FIFO here: %v", err)
	}
	t.Cleanup(func() {
		if f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	for name, read := range map[string]func(string) (string, error){
		"ReadPassword": ReadPassword, "ReadEmbeddedPassword": ReadEmbeddedPassword, "EnsurePassword": EnsurePassword,
	} {
		t.Run(name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { _, err := read(path); done <- err }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), "named pipe") || !strings.Contains(err.Error(), path) {
					t.Errorf("err %v, want one naming the FIFO", err)
				}
			case <-time.After(testsupport.Patience):
				t.Fatal("reading the password blocks on a FIFO")
			}
		})
	}
}
