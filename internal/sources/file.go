package sources

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/regsync/regsync/internal/bounded"
	"github.com/regsync/regsync/internal/registry"
)

// fetchFile reads a local registry file, refusing one over limit bytes
// without reading it whole. Relative paths resolve against the working
// directory, as in the ToolHive Registry Server.
//
// Only regular files are read (symbolic links to them are followed, as a
// Kubernetes ConfigMap volume needs): a FIFO, device or socket would block
// the read, or never end it. The file is checked before it is opened and
// opened without blocking, so one swapped in between is refused as well.
func fetchFile(path string, limit int64) (*Fetched, error) {
	f, info, err := openRegular(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("file not found: %s", path)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if info.Size() > limit {
		return nil, tooLarge(path, info.Size(), limit)
	}
	// Read into a buffer of the file's size (see bounded.ReadAll): growing
	// one by doubling would copy a big registry several times over.
	raw, err := bounded.ReadAll(f, limit)
	if _, ok := errors.AsType[*bounded.TooLargeError](err); ok {
		// It grew since it was checked.
		return nil, tooLarge(path, limit+1, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read file %s: %w", path, err)
	}
	hash := registry.Hash(raw)
	return &Fetched{Raw: raw, Hash: hash, Revision: hash}, nil
}

// openRegular opens path for reading if it is a regular file (see
// fetchFile): it is checked before it is opened, opened without blocking,
// and checked again. Errors other than fs.ErrNotExist name the path.
func openRegular(path string) (*os.File, fs.FileInfo, error) {
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, err
	}
	if err != nil {
		return nil, nil, fmt.Errorf("failed to read file %s: %w", path, err)
	}
	if err := checkRegular(path, info); err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to read file %s: %w", path, err)
	}
	if info, err = f.Stat(); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("failed to read file %s: %w", path, err)
	}
	if err := checkRegular(path, info); err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, info, nil
}

// readRegular reads a small file (a password, a token) of at most limit
// bytes, refusing anything but a regular file.
func readRegular(path string, limit int64) ([]byte, error) {
	f, _, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := bounded.ReadAll(f, limit)
	if _, ok := errors.AsType[*bounded.TooLargeError](err); ok {
		return nil, fmt.Errorf("%s is %w", path, err)
	}
	return b, err
}

// checkRegular refuses anything but a regular file, naming what it is.
func checkRegular(path string, info fs.FileInfo) error {
	mode := info.Mode()
	switch {
	case mode.IsRegular():
		return nil
	case mode.IsDir():
		return fmt.Errorf("failed to read file %s: is a directory", path)
	case mode&fs.ModeNamedPipe != 0:
		return fmt.Errorf("failed to read file %s: is a named pipe (FIFO), not a regular file", path)
	case mode&fs.ModeSocket != 0:
		return fmt.Errorf("failed to read file %s: is a socket, not a regular file", path)
	case mode&fs.ModeDevice != 0:
		return fmt.Errorf("failed to read file %s: is a device, not a regular file", path)
	}
	return fmt.Errorf("failed to read file %s: not a regular file (mode %s)", path, mode)
}

func tooLarge(path string, size, limit int64) error {
	return fmt.Errorf("file %s is over the size limit: %d bytes > %d bytes (raise sync.maxDataSize to accept it)", path, size, limit)
}
