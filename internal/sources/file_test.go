package sources

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/registry"
	"github.com/regsync/regsync/internal/retry"
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

func TestFetchFileReadsAgainWhenAWriterOverlapsTheRead(t *testing.T) {
	const finished = `{"data":{"servers":[{"name":"io.test/one","description":"finished"}]}}`
	half := finished[:len(finished)/2]
	writeAll := func(path, content string) error { return os.WriteFile(path, []byte(content), 0o644) }
	cases := []struct {
		name   string
		finish func(path string) error
	}{
		{"the writer goes on in place", func(path string) error { return writeAll(path, finished) }},
		{"the writer renames the finished file into place", func(path string) error {
			if err := writeAll(path+".tmp", finished); err != nil {
				return err
			}
			return os.Rename(path+".tmp", path)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "registry.json")
			if err := writeAll(path, half); err != nil {
				t.Fatal(err)
			}
			reads := 0
			f := &Fetcher{afterFileRead: func(string) {
				reads++
				if reads == 1 {
					if err := tc.finish(path); err != nil {
						t.Error(err)
					}
				}
			}}
			got, err := f.Fetch(context.Background(), fileSrc(path))
			if err != nil {
				t.Fatal(err)
			}
			if string(got.Raw) != finished || got.Hash != registry.Hash([]byte(finished)) {
				t.Errorf("fetched %q after %d reads, want the finished file", got.Raw, reads)
			}
			if got.Stale() {
				t.Error("the finished file is reported stale")
			}
		})
	}
	t.Run("a file that never holds still fails and says so", func(t *testing.T) {
		b := reread
		reread = retry.Backoff{Attempts: 3}
		t.Cleanup(func() { reread = b })
		path := filepath.Join(t.TempDir(), "registry.json")
		if err := writeAll(path, half); err != nil {
			t.Fatal(err)
		}
		content := []string{finished, half}
		reads := 0
		f := &Fetcher{afterFileRead: func(string) {
			reads++
			if err := writeAll(path, content[reads%2]); err != nil {
				t.Error(err)
			}
		}}
		_, err := f.Fetch(context.Background(), fileSrc(path))
		if err == nil || !strings.Contains(err.Error(), "gave up after 3 attempts: it kept changing while it was read") {
			t.Errorf("err %v, want one saying the file kept changing", err)
		}
	})
}

func TestFetchedStale(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.json")
	if err := os.WriteFile(path, []byte(`{"cut":`), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := (&Fetcher{}).Fetch(context.Background(), fileSrc(path))
	if err != nil {
		t.Fatal(err)
	}
	if got.Stale() {
		t.Error("a file unchanged since it was read is stale")
	}
	if err := os.WriteFile(path, []byte(`{"cut":"no more"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if !got.Stale() {
		t.Error("a file written since it was read is not stale")
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if !got.Stale() {
		t.Error("a file removed since it was read is not stale")
	}
	if (&Fetched{Raw: []byte(`{}`)}).Stale() {
		t.Error("data not read from a file is stale")
	}
}
