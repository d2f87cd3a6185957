package sources

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"github.com/regsync/regsync/internal/config"
)

// Clone cache layout and bounds. Each repository has one bare clone under
// <DataDir>/git/<key>, where key is derived from the repository URL with
// its credentials removed (see cloneKey). Fetches are shallow (depth 1)
// and add one pack each, so the clone grows with every change fetched; a
// clone over half its size limit, or holding more than maxPacks packs, is
// started afresh before the next fetch. Since each depth-1 fetch carries a
// full snapshot of the commit anyway, starting afresh costs about one fetch.
const (
	// DefaultMaxCloneSize bounds a clone on disk when Fetcher.MaxCloneSize
	// is not set. A fetch that would write more fails, and the clone is
	// removed. A registry repository holds a few MB at a commit; this
	// leaves room for large monorepos while keeping a runaway remote from
	// filling the disk.
	DefaultMaxCloneSize = 512 << 20
	maxPacks            = 32
)

// cloneKey names a repository's clone: a hash of its URL normalised so
// that spellings of the same repository share one clone (no credentials,
// host in lower case, default port dropped, no trailing slash, and the
// scp-like user@host:path equal to ssh://user@host/path).
func cloneKey(ep *transport.Endpoint) string {
	port := ep.Port
	if d, ok := config.DefaultPort(ep.Protocol); ok && port == d {
		port = 0
	}
	p := strings.TrimRight(ep.Path, "/")
	if ep.Protocol == "file" {
		p = filepath.Clean(p)
	}
	norm := ep.Protocol + "://" + strings.ToLower(ep.Host) + ":" + strconv.Itoa(port) + "/" + strings.TrimPrefix(p, "/")
	sum := sha256.Sum256([]byte(norm))
	return hex.EncodeToString(sum[:16])
}

// repoLock serialises the operations on one clone. Waiting for it honours
// the context.
func (f *Fetcher) repoLock(ctx context.Context, key string) (unlock func(), err error) {
	f.mu.Lock()
	if f.locks == nil {
		f.locks = make(map[string]chan struct{})
	}
	ch := f.locks[key]
	if ch == nil {
		ch = make(chan struct{}, 1)
		f.locks[key] = ch
	}
	f.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// clone is a bare repository on disk, opened for one operation.
type clone struct {
	dir   string
	st    *filesystem.Storage
	left  *atomic.Int64 // bytes the clone may still grow by
	limit int64
	// fresh is true when the clone was created by this operation.
	fresh bool
	size  int64
	packs int
}

// openClone opens the bare repository in dir, creating it when dir does
// not exist or is empty. An error means the directory holds something
// that is not a usable repository.
func openClone(dir string, limit int64) (*clone, error) {
	c := &clone{dir: dir, limit: limit, left: new(atomic.Int64)}
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		c.fresh = true
	case err != nil:
		return nil, err
	case len(entries) == 0:
		c.fresh = true
	}
	if !c.fresh {
		if c.size, c.packs, err = cloneUsage(dir); err != nil {
			return nil, err
		}
	}
	c.left.Store(limit - c.size)
	c.st = filesystem.NewStorageWithOptions(osfs.New(dir, osfs.WithBoundOS()), cache.NewObjectLRUDefault(), filesystem.Options{ExclusiveAccess: true})
	if c.fresh {
		if _, err := git.Init(c.st, nil); err != nil {
			return nil, fmt.Errorf("init: %w", err)
		}
		return c, nil
	}
	if _, err := git.Open(c.st, nil); err != nil {
		return nil, err
	}
	head, err := c.st.Reference(plumbing.HEAD)
	if err != nil {
		return nil, fmt.Errorf("HEAD: %w", err)
	}
	if head.Type() == plumbing.HashReference && head.Hash().IsZero() || head.Type() == plumbing.InvalidReference {
		return nil, errors.New("HEAD is not a reference")
	}
	if _, err := c.st.Shallow(); err != nil {
		return nil, fmt.Errorf("shallow: %w", err)
	}
	return c, nil
}

func (c *clone) close() {
	_ = c.st.Close()
}

// tooLarge reports whether the clone went over its size limit: a fetch's
// pack was refused, or the clone is larger than the limit on disk.
func (c *clone) tooLarge() bool {
	if c.left.Load() < 0 {
		return true
	}
	size, _, err := cloneUsage(c.dir)
	return err == nil && size > c.limit
}

// fetchStorer is the clone's storage for a fetch from a remote using
// protocol.
func (c *clone) fetchStorer(protocol string) *boundedStorer {
	return &boundedStorer{Storage: c.st, left: c.left, limit: c.limit, drain: protocol == "file"}
}

// cloneUsage returns the bytes a clone takes on disk and its pack count.
func cloneUsage(dir string) (size int64, packs int, err error) {
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		size += info.Size()
		if strings.HasSuffix(p, ".pack") {
			packs++
		}
		return nil
	})
	return size, packs, err
}

// cloneTooLargeError is a fetch refused because the clone would grow past
// its size limit.
type cloneTooLargeError struct{ limit int64 }

func (e *cloneTooLargeError) Error() string {
	return fmt.Sprintf("the clone would grow over its size limit of %d bytes", e.limit)
}

// boundedStorer is a clone's storage as a fetch sees it: the pack a fetch
// receives may grow the clone by what is left of its size limit, so a
// huge or hostile remote fails the fetch instead of filling the disk.
type boundedStorer struct {
	*filesystem.Storage
	left  *atomic.Int64
	limit int64
	// drain keeps reading a pack past the limit, discarding it, instead
	// of failing at once: go-git's file:// transport waits for
	// git-upload-pack to exit when a fetch fails, which it never does
	// while its output is not read.
	drain bool
}

// PackfileWriter bounds the pack written by a fetch.
func (s *boundedStorer) PackfileWriter() (io.WriteCloser, error) {
	w, err := s.Storage.PackfileWriter()
	if err != nil {
		return nil, err
	}
	return &boundedPackWriter{w: w, s: s}, nil
}

type boundedPackWriter struct {
	w    io.WriteCloser
	s    *boundedStorer
	over bool
}

func (b *boundedPackWriter) Write(p []byte) (int, error) {
	if b.over {
		return len(p), nil
	}
	if b.s.left.Add(-int64(len(p))) < 0 {
		b.over = true
		if b.s.drain {
			return len(p), nil
		}
		return 0, &cloneTooLargeError{limit: b.s.limit}
	}
	return b.w.Write(p)
}

func (b *boundedPackWriter) Close() error {
	err := b.w.Close()
	if b.over {
		return &cloneTooLargeError{limit: b.s.limit}
	}
	return err
}
