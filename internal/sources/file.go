package sources

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/regsync/regsync/internal/registry"
)

// fetchFile reads a local registry file, refusing one over limit bytes
// without reading it whole. Relative paths resolve against the working
// directory, as in the ToolHive Registry Server.
func fetchFile(path string, limit int64) (*Fetched, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("file not found: %s", path)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read file %s: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("failed to read file %s: %w", path, err)
	}
	if info.IsDir() {
		return nil, fmt.Errorf("failed to read file %s: is a directory", path)
	}
	if info.Size() > limit {
		return nil, tooLarge(path, info.Size(), limit)
	}
	raw, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("failed to read file %s: %w", path, err)
	}
	if int64(len(raw)) > limit {
		return nil, tooLarge(path, int64(len(raw)), limit)
	}
	hash := registry.Hash(raw)
	return &Fetched{Raw: raw, Hash: hash, Revision: hash}, nil
}

func tooLarge(path string, size, limit int64) error {
	return fmt.Errorf("file %s is over the size limit: %d bytes > %d bytes (raise sync.maxDataSize to accept it)", path, size, limit)
}
