//go:build unix

package config

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/regsync/regsync/internal/testsupport"
)

// A FIFO named as the configuration file is refused at once: opening it
// waited for a writer, which hung the start or a reload.
func TestLoadRefusesAFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	testsupport.FIFO(t, path)
	err := testsupport.Returns(t, "loading the configuration from a FIFO", func() error { _, _, err := Load(path); return err })
	if err == nil || !strings.Contains(err.Error(), "is a named pipe (FIFO), not a regular file") || !strings.Contains(err.Error(), path) {
		t.Errorf("err %v, want one naming the FIFO", err)
	}
}
