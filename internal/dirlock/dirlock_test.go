package dirlock

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestAcquire(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	first, err := Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire() = %v", err)
	}

	t.Run("a second holder is refused with the first one's pid and the lock file", func(t *testing.T) {
		second, err := Acquire(dir)
		if err == nil {
			second.Release()
			t.Fatal("two holders of one directory")
		}
		if !errors.Is(err, ErrLocked) {
			t.Errorf("err %v, want ErrLocked", err)
		}
		for _, want := range []string{"pid " + strconv.Itoa(os.Getpid()), filepath.Join(dir, FileName)} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("err %q does not name %q", err, want)
			}
		}
	})
	t.Run("a released directory can be locked again", func(t *testing.T) {
		if err := first.Release(); err != nil {
			t.Fatal(err)
		}
		again, err := Acquire(dir)
		if err != nil {
			t.Fatalf("Acquire() after Release = %v", err)
		}
		again.Release()
	})
}

func TestAcquireNamesAnUnreadableHolder(t *testing.T) {
	dir := t.TempDir()
	first, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Release()
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(dir)
	if err == nil || !strings.Contains(err.Error(), "pid unknown") {
		t.Errorf("err %v, want the holder named as unknown", err)
	}
}
