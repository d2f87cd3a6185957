//go:build unix

package bus

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/regsync/regsync/internal/testsupport"
)

// A FIFO at the password file's place is refused at once: opening it for
// reading waited for a writer, which hung the start.
func TestReadPasswordRefusesAFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nats-password")
	testsupport.FIFO(t, path)
	for name, read := range map[string]func(string) (string, error){
		"ReadPassword": ReadPassword, "ReadEmbeddedPassword": ReadEmbeddedPassword, "EnsurePassword": EnsurePassword,
	} {
		t.Run(name, func(t *testing.T) {
			err := testsupport.Returns(t, "reading the password from a FIFO", func() error { _, err := read(path); return err })
			if err == nil || !strings.Contains(err.Error(), "named pipe") || !strings.Contains(err.Error(), path) {
				t.Errorf("err %v, want one naming the FIFO", err)
			}
		})
	}
}
