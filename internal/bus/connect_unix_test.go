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

// A FIFO named as a credentials, NKey seed, CA or certificate file is
// refused at once: opening it waited for a writer, which hung the start
// of serve and of every client command.
func TestConnectRefusesFIFOs(t *testing.T) {
	pki := testsupport.NewPKI(t)
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("cannot make a FIFO here: %v", err)
	}
	t.Cleanup(func() {
		for range 8 { // release every regressed reader
			if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				f.Close()
			}
		}
	})
	cases := map[string]ConnectOptions{
		"credentials file": {CredsFile: fifo},
		"nkey seed file":   {NKeyFile: fifo},
		"CA file":          {CAFile: fifo},
		"certificate file": {CertFile: fifo, KeyFile: pki.ClientKey},
		"key file":         {CertFile: pki.ClientCert, KeyFile: fifo},
	}
	for name, o := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			o.URL = "nats://127.0.0.1:1"
			done := make(chan error, 1)
			go func() {
				nc, err := Connect(o)
				if err == nil {
					nc.Close()
				}
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), "is a named pipe (FIFO), not a regular file") || !strings.Contains(err.Error(), fifo) {
					t.Errorf("err %v, want one naming the FIFO", err)
				}
			case <-time.After(testsupport.Patience):
				t.Fatal("connecting blocks on a FIFO")
			}
		})
	}
}
