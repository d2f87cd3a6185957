//go:build unix

package bounded

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/regsync/regsync/internal/testsupport"
)

// Reading a FIFO, a socket or a device is refused at once, saying what it
// is: opening a FIFO for reading waits for a writer, which hung whatever
// read it (start-up at a password file, a reload at the config file).
func TestReadFileRefusesWhatIsNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("cannot make a FIFO here: %v", err)
	}
	releaseFIFO(t, fifo)
	link := filepath.Join(dir, "link")
	if err := os.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Skipf("cannot make a unix socket here: %v", err)
	}
	defer ln.Close()
	cases := []struct{ name, path, want string }{
		{"named pipe", fifo, "is a named pipe (FIFO), not a regular file"},
		{"symbolic link to a named pipe", link, "is a named pipe (FIFO), not a regular file"},
		{"socket", sock, "is a socket, not a regular file"},
		{"character device", "/dev/null", "is a device, not a regular file"},
		{"directory", dir, "is a directory"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := within(t, func() error { _, err := ReadFile(tc.path, 1<<10); return err })
			if _, ok := errors.AsType[*NotRegularError](err); !ok || err.Error() != tc.want {
				t.Errorf("err %v, want %q", err, tc.want)
			}
		})
	}
}

// A FIFO that takes a regular file's place after the path was checked
// (the swap Open's first check cannot see) does not block the open: the
// opened file is checked.
func TestOpenRefusesAFIFOSwappedInAfterTheCheck(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("cannot make a FIFO here: %v", err)
	}
	releaseFIFO(t, path)
	afterCheck = func(p string) {
		if err := os.Rename(fifo, p); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(func() { afterCheck = nil })
	err := within(t, func() error { f, _, err := Open(path); closeFile(f); return err })
	if _, ok := errors.AsType[*NotRegularError](err); !ok {
		t.Errorf("err %v, want a *NotRegularError", err)
	}
}

func closeFile(f *os.File) {
	if f != nil {
		f.Close()
	}
}

// within runs read and returns its error, failing the test if it has not
// returned within testsupport.Patience: a blocked read must not hang the
// suite.
func within(t *testing.T, read func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- read() }()
	select {
	case err := <-done:
		return err
	case <-time.After(testsupport.Patience):
		t.Fatal("the read blocks")
		return nil
	}
}

// releaseFIFO opens the FIFO at path for writing when the test ends, so a
// reader that blocked on it (a regression) returns and the test binary
// can end.
func releaseFIFO(t *testing.T, path string) {
	t.Cleanup(func() {
		if f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
}
