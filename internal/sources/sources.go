package sources

import (
	"context"
	"fmt"

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

// Fetcher fetches any configured source.
type Fetcher struct {
	// MaxSize is the largest document accepted, in bytes.
	MaxSize int64
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
	case src.Type() == "":
		return nil, fmt.Errorf("unable to determine source type of %s", src.Name)
	default:
		return nil, fmt.Errorf("%s sources are not available yet in this version of regsync", src.Type())
	}
}
