package bounded

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadAll(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		limit   int64
		wantErr string
	}{
		{"empty", "", 4, ""},
		{"under the limit", "abc", 4, ""},
		{"at the limit", "abcd", 4, ""},
		{"one byte over", "abcde", 4, "larger than 4 bytes"},
		{"far over", strings.Repeat("x", 1<<16), 10, "larger than 10 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// One byte at a time, so no single read crosses the limit.
			got, err := ReadAll(iotest.OneByteReader(strings.NewReader(tt.data)), tt.limit)
			if tt.wantErr == "" {
				if err != nil || string(got) != tt.data {
					t.Fatalf("ReadAll = %q, %v; want %q", got, err, tt.data)
				}
				return
			}
			var tl *TooLargeError
			if !errors.As(err, &tl) || tl.Limit != tt.limit || err.Error() != tt.wantErr || got != nil {
				t.Errorf("ReadAll = %q, %v; want %s", got, err, tt.wantErr)
			}
		})
	}
	t.Run("a reader's error", func(t *testing.T) {
		boom := errors.New("boom")
		if _, err := ReadAll(iotest.ErrReader(boom), 4); !errors.Is(err, boom) {
			t.Errorf("err = %v, want boom", err)
		}
	})
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadFile(p, 5); err != nil || string(got) != "hello" {
		t.Errorf("ReadFile = %q, %v", got, err)
	}
	if _, err := ReadFile(p, 4); err == nil || err.Error() != "larger than 4 bytes" {
		t.Errorf("over the limit: %v", err)
	}
	if _, err := ReadFile(filepath.Join(dir, "absent"), 4); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// A regular file is read into a buffer of its size, not one grown by
// doubling, which would allocate about twice the file.
func TestReadFileAllocatesItsSize(t *testing.T) {
	if raceEnabled {
		t.Skip("allocations are counted differently with -race")
	}
	const size = 8 << 20
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte(strings.Repeat("x", size)), 0o600); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b, err := ReadFile(p, 2*size)
	runtime.ReadMemStats(&after)
	if err != nil || len(b) != size {
		t.Fatalf("ReadFile = %d bytes, %v", len(b), err)
	}
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > size*3/2 {
		t.Errorf("%d bytes allocated to read %d", allocated, size)
	}
}
