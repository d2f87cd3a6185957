//go:build unix

package webhook

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/testsupport"
)

// A FIFO named as a webhook secret file is refused at once: opening it
// waited for a writer, which hung the start or a reload.
func TestSecretFileRefusesAFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "github")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("cannot make a FIFO here: %v", err)
	}
	t.Cleanup(func() {
		if f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	done := make(chan error, 1)
	go func() { done <- CheckSecrets(config.Webhooks{GitHub: config.WebhookSecret{SecretFile: path}}, nil) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "is a named pipe (FIFO), not a regular file") || !strings.Contains(err.Error(), path) {
			t.Errorf("err %v, want one naming the FIFO", err)
		}
	case <-time.After(testsupport.Patience):
		t.Fatal("reading the secret blocks on a FIFO")
	}
}
