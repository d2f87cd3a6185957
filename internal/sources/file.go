package sources

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/regsync/regsync/internal/bounded"
	"github.com/regsync/regsync/internal/registry"
	"github.com/regsync/regsync/internal/retry"
)

// fetchFile reads a local registry file, refusing one over limit bytes
// without reading it whole. Relative paths resolve against the working
// directory, as in the ToolHive Registry Server.
//
// Only regular files are read (symbolic links to them are followed, as a
// Kubernetes ConfigMap volume needs): a FIFO, device or socket would block
// the read, or never end it (see bounded.Open).
//
// A read that a writer overlapped (the file's size or modification time
// changed while it was read, fewer bytes came than it held, or another
// file took its name) is read again after a short pause, as reread says,
// so half-written data is never handed on; a file that never holds still
// fails with an error that says so. Fetched.Stale tells later whether the
// file changed after a read that looked whole.
func (f *Fetcher) fetchFile(ctx context.Context, path string, limit int64) (*Fetched, error) {
	var fetched *Fetched
	b := reread
	b.Retryable = func(err error) bool { return errors.Is(err, errUnsettled) }
	err := b.Do(ctx, func(context.Context) error {
		var settled bool
		var err error
		fetched, settled, err = f.readFile(path, limit)
		if err == nil && !settled {
			return errUnsettled
		}
		return err
	})
	if errors.Is(err, errUnsettled) {
		return nil, fmt.Errorf("failed to read file %s: %w; it is read again on its next change", path, err)
	}
	return fetched, err
}

// errUnsettled reports a read of a file that a writer overlapped.
var errUnsettled = errors.New("it kept changing while it was read")

// reread is how a file that changed while it was read is read again: six
// reads, with about half a second in all for a writer to finish.
var reread = retry.Backoff{First: 20 * time.Millisecond, Limit: 250 * time.Millisecond, Attempts: 6}

// readFile reads the file once; settled is false when a writer overlapped
// the read (see fetchFile).
func (f *Fetcher) readFile(path string, limit int64) (fetched *Fetched, settled bool, err error) {
	file, info, err := openRegular(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("file not found: %s", path)
	}
	if err != nil {
		return nil, false, err
	}
	defer file.Close()
	if info.Size() > limit {
		return nil, false, tooLarge(path, info.Size(), limit)
	}
	// Read into a buffer of the file's size (see bounded.ReadAll): growing
	// one by doubling would copy a big registry several times over.
	raw, err := bounded.ReadAll(file, limit)
	if _, ok := errors.AsType[*bounded.TooLargeError](err); ok {
		// It grew since it was checked.
		return nil, false, tooLarge(path, limit+1, limit)
	}
	if err != nil {
		return nil, false, fmt.Errorf("failed to read file %s: %w", path, err)
	}
	if f.afterFileRead != nil {
		f.afterFileRead(path)
	}
	after, err := file.Stat()
	if err != nil {
		return nil, false, fmt.Errorf("failed to read file %s: %w", path, err)
	}
	if int64(len(raw)) != info.Size() || !sameFile(info, after) || !sameFile(info, statOrNil(path)) {
		return nil, false, nil
	}
	hash := registry.Hash(raw)
	return &Fetched{Raw: raw, Hash: hash, Revision: hash, path: path, info: info}, true, nil
}

// sameFile reports whether b is the file a described, unchanged: the same
// file, size and modification time. A nil b (gone) is not.
func sameFile(a, b fs.FileInfo) bool {
	return b != nil && os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

func statOrNil(path string) fs.FileInfo {
	info, err := os.Stat(path)
	if err != nil {
		return nil
	}
	return info
}

// openRegular opens path for reading if it is a regular file (see
// fetchFile and bounded.Open). Errors other than fs.ErrNotExist name the
// path.
func openRegular(path string) (*os.File, fs.FileInfo, error) {
	f, info, err := bounded.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, err
	}
	if _, ok := errors.AsType[*bounded.NotRegularError](err); ok {
		return nil, nil, fmt.Errorf("failed to read file %s: %w", path, err)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("failed to read file: %w", err)
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

func tooLarge(path string, size, limit int64) error {
	return fmt.Errorf("file %s is over the size limit: %d bytes > %d bytes (raise sync.maxDataSize to accept it)", path, size, limit)
}
