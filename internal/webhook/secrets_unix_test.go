//go:build unix

package webhook

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/testsupport"
)

// A FIFO named as a webhook secret file is refused at once: opening it
// waited for a writer, which hung the start or a reload.
func TestSecretFileRefusesAFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "github")
	testsupport.FIFO(t, path)
	err := testsupport.Returns(t, "reading the secret from a FIFO", func() error {
		return CheckSecrets(config.Webhooks{GitHub: config.WebhookSecret{SecretFile: path}}, nil)
	})
	if err == nil || !strings.Contains(err.Error(), "is a named pipe (FIFO), not a regular file") || !strings.Contains(err.Error(), path) {
		t.Errorf("err %v, want one naming the FIFO", err)
	}
}
