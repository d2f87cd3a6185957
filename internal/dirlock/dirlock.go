package dirlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// FileName is the lock file in a locked directory. It holds the pid of the
// process that holds the lock.
const FileName = "regsync.lock"

// ErrLocked is the error of Acquire when another process holds the lock.
var ErrLocked = errors.New("in use by another process")

// Lock is a held lock on a directory.
type Lock struct {
	f *os.File
}

// Acquire locks dir, creating it if needed, until Release or the end of
// the process (the operating system drops the lock of a process that
// dies, so a crash leaves nothing to clean up). When another process holds
// it, the error wraps ErrLocked and names that process's pid, as far as it
// can be read, and the lock file.
func Acquire(dir string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	held, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if !held {
		defer f.Close()
		holder := "pid unknown"
		if b, err := os.ReadFile(path); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				holder = "pid " + strconv.Itoa(pid)
			}
		}
		return nil, fmt.Errorf("%s is %w (%s holds %s): stop it, or give this one a dataDir of its own", dir, ErrLocked, holder, path)
	}
	if err := writePid(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return &Lock{f: f}, nil
}

// writePid records this process in the lock file, for the error of the
// next process that tries.
func writePid(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}

// Release gives the directory up. The lock file stays: removing it would
// let a third process lock a new file while a second one holds the old.
func (l *Lock) Release() error {
	return l.f.Close()
}
