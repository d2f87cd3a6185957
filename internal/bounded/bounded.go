// Package bounded reads all of a file or a reader, up to a limit: every
// read of outside data that is kept whole in memory (configuration and
// secret files, fetched registries, webhook secrets) goes through it, so
// each is refused the same way once it passes its limit. Every file
// regsync reads is opened through its Open, which reads regular files
// only and never blocks on a FIFO.
package bounded

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
)

// TooLargeError is data past the limit of a read.
type TooLargeError struct {
	// Limit is the largest size accepted, in bytes.
	Limit int64
}

func (e *TooLargeError) Error() string { return fmt.Sprintf("larger than %d bytes", e.Limit) }

// ReadAll reads r to its end and returns what it read, or a *TooLargeError
// as soon as r holds more than limit bytes. Reading a regular file, it
// makes room for the file's size at once rather than growing as it reads.
func ReadAll(r io.Reader, limit int64) ([]byte, error) {
	var buf bytes.Buffer
	if f, ok := r.(interface{ Stat() (fs.FileInfo, error) }); ok {
		if info, err := f.Stat(); err == nil && info.Mode().IsRegular() {
			buf.Grow(int(min(info.Size(), limit)) + bytes.MinRead)
		}
	}
	if _, err := buf.ReadFrom(io.LimitReader(r, limit+1)); err != nil {
		return nil, err
	}
	if int64(buf.Len()) > limit {
		return nil, &TooLargeError{Limit: limit}
	}
	return buf.Bytes(), nil
}

// ReadFile reads the regular file at path as ReadAll does, opening it
// with Open: anything else is a *NotRegularError.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, _, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadAll(f, limit)
}
