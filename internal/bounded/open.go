package bounded

import (
	"fmt"
	"io/fs"
	"os"
)

// NotRegularError is a path that names something other than a regular
// file: a directory, a FIFO, a socket or a device. Reading a FIFO or a
// device could block for good or never end, so none is read.
type NotRegularError struct {
	// Mode is the mode of what the path names.
	Mode fs.FileMode
}

func (e *NotRegularError) Error() string {
	switch m := e.Mode; {
	case m.IsDir():
		return "is a directory"
	case m&fs.ModeNamedPipe != 0:
		return "is a named pipe (FIFO), not a regular file"
	case m&fs.ModeSocket != 0:
		return "is a socket, not a regular file"
	case m&fs.ModeDevice != 0:
		return "is a device, not a regular file"
	}
	return fmt.Sprintf("not a regular file (mode %s)", e.Mode)
}

// afterCheck, when set, runs between Open's first check and the open: a
// test swaps a FIFO in there.
var afterCheck func(path string)

// Open opens the file at path for reading if it is a regular file, and
// returns it with what the opened file's Stat says. Every file regsync
// reads is opened through it. Symbolic links are followed.
//
// Nothing but a regular file is ever read: a FIFO blocks its reader until
// a writer comes, a device may never end. So the path is checked first
// (a FIFO or a device is not even opened), then opened without blocking
// (openFlags), so that a FIFO swapped in since the check cannot block the
// open, and the opened file is checked again: that last check is the one
// that counts. What is not a regular file is a *NotRegularError; errors of
// the system (such as fs.ErrNotExist) are returned as they come, naming
// the path.
func Open(path string) (*os.File, fs.FileInfo, error) {
	if info, err := os.Stat(path); err == nil && !info.Mode().IsRegular() {
		return nil, nil, &NotRegularError{Mode: info.Mode()}
	}
	if afterCheck != nil {
		afterCheck(path)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|openFlags, 0)
	if err != nil {
		return nil, nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !info.Mode().IsRegular() {
		f.Close()
		return nil, nil, &NotRegularError{Mode: info.Mode()}
	}
	return f, info, nil
}
