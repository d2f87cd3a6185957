package sources

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/registry"
)

func fileSrc(path string) config.Source {
	return config.Source{Name: "f", File: &config.File{Path: path}}
}

func TestFetchFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	if err := os.WriteFile(good, []byte(`{"a":1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.json")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse, and refused by its size before it is read.
	if err := f.Truncate(600 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()

	t.Run("reads and hashes the bytes", func(t *testing.T) {
		got, err := (&Fetcher{}).Fetch(context.Background(), fileSrc(good))
		if err != nil {
			t.Fatal(err)
		}
		if string(got.Raw) != `{"a":1}` || got.Hash != registry.Hash(got.Raw) || got.Revision != got.Hash {
			t.Errorf("fetched %+v", got)
		}
	})
	errs := []struct {
		name string
		src  config.Source
		max  int64
		want string
	}{
		{"missing file", fileSrc(filepath.Join(dir, "nope.json")), 0, "file not found: "},
		{"directory", fileSrc(dir), 0, "is a directory"},
		{"600 MB file over the default limit", fileSrc(big), 0, "over the size limit: 629145600 bytes > 536870912 bytes"},
		{"file over a configured limit", fileSrc(good), 3, "over the size limit: 7 bytes > 3 bytes"},
		{"git without a repository", config.Source{Name: "g", Git: &config.Git{}}, 0, "git.repository is required"},
		{"no type", config.Source{Name: "n"}, 0, "unable to determine source type of n"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			_, err := (&Fetcher{MaxSize: tc.max}).Fetch(context.Background(), tc.src)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want %q", err, tc.want)
			}
		})
	}
	t.Run("unreadable file", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root reads any file")
		}
		p := filepath.Join(dir, "secret.json")
		if err := os.WriteFile(p, []byte("{}"), 0o000); err != nil {
			t.Fatal(err)
		}
		if _, err := (&Fetcher{}).Fetch(context.Background(), fileSrc(p)); err == nil || !strings.Contains(err.Error(), "failed to read file") {
			t.Errorf("err %v", err)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := (&Fetcher{}).Fetch(ctx, fileSrc(good)); err == nil {
			t.Error("fetched with a cancelled context")
		}
	})
}
