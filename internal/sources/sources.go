package sources

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/regsync/regsync/internal/config"
)

// Fetched is what a source holds right now.
type Fetched struct {
	// Raw is the registry document as fetched.
	Raw []byte
	// Hash is the lowercase hex SHA-256 of Raw.
	Hash string
	// Revision names what was fetched: the file digest for files (equal to
	// Hash), the commit SHA for git.
	Revision string
}

// DefaultMaxSize bounds a fetched document when the configuration does not.
const DefaultMaxSize = 32 << 20

// Fetcher fetches any configured source. It is safe for concurrent use;
// it must not be copied after first use.
type Fetcher struct {
	// MaxSize is the largest document accepted, in bytes.
	MaxSize int64
	// DataDir keeps one bare clone per git repository, under
	// DataDir/git/. Empty means no cache: every git fetch clones into a
	// temporary directory and removes it.
	DataDir string
	// GitTimeout bounds each git network operation (a reference listing,
	// a fetch); DefaultGitTimeout when zero.
	GitTimeout time.Duration
	// MaxCloneSize bounds a git clone on disk, in bytes;
	// DefaultMaxCloneSize when zero.
	MaxCloneSize int64
	// Logger receives what a fetch does on the side, such as rebuilding
	// a damaged clone; nil discards it.
	Logger *slog.Logger

	mu    sync.Mutex
	locks map[string]chan struct{} // per clone, see repoLock
}

// Fetch returns the source's current bytes.
func (f *Fetcher) Fetch(ctx context.Context, src config.Source) (*Fetched, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	limit := f.MaxSize
	if limit <= 0 {
		limit = DefaultMaxSize
	}
	switch {
	case src.File != nil && src.File.Path != "":
		return fetchFile(src.File.Path, limit)
	case src.Git != nil:
		return f.fetchGit(ctx, src.Git, limit)
	case src.Type() == "":
		return nil, fmt.Errorf("unable to determine source type of %s", src.Name)
	default:
		return nil, fmt.Errorf("%s sources are not available yet in this version of regsync", src.Type())
	}
}
