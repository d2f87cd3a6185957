//go:build unix

package sources

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/regsync/regsync/internal/testsupport"
)

// A FIFO, socket or device at a file source's path is refused at once with
// an error naming it: opening a FIFO for reading blocks until a writer
// comes, which wedged the source past its timeout.
func TestFetchFileRefusesNonRegularFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "registry.json")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("cannot make a FIFO here: %v", err)
	}
	sock := filepath.Join(dir, "s.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Skipf("cannot make a unix socket here: %v", err)
	}
	defer ln.Close()
	link := filepath.Join(dir, "link.json")
	if err := syscall.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path, want string
	}{
		{"named pipe", fifo, "is a named pipe (FIFO), not a regular file"},
		{"symbolic link to a named pipe", link, "is a named pipe (FIFO), not a regular file"},
		{"socket", sock, "is a socket, not a regular file"},
		{"character device", "/dev/null", "is a device, not a regular file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				_, err := (&Fetcher{}).Fetch(context.Background(), fileSrc(tc.path))
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) {
					t.Errorf("err %v, want %q naming the path", err, tc.want)
				}
			case <-time.After(testsupport.Patience):
				t.Fatal("the fetch blocks on a file that is not regular")
			}
		})
	}
}

// A FIFO named as a source's bearer token or git password file is refused
// instead of blocking the fetch.
func TestSecretFilesRefuseFIFOs(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "token")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("cannot make a FIFO here: %v", err)
	}
	reads := map[string]func() error{
		"bearer token file": func() error { _, err := bearerToken(fifo); return err },
		"git password file": func() error { _, err := readPassword(fifo); return err },
	}
	for name, read := range reads {
		t.Run(name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { done <- read() }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), "named pipe") {
					t.Errorf("err %v", err)
				}
			case <-time.After(testsupport.Patience):
				t.Fatal("the read blocks on a FIFO")
			}
		})
	}
}
