package writer_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/regsync/regsync/internal/bus/bustest"
	"github.com/regsync/regsync/internal/syncer/writer"
)

func TestSnapshots(t *testing.T) {
	h := bustest.Start(t, 0).Handles
	s := writer.New(h.Data)
	ctx := context.Background()

	if _, err := s.Load(ctx, "src"); !errors.Is(err, writer.ErrNoSnapshot) {
		t.Errorf("load before store: %v, want ErrNoSnapshot", err)
	}
	if _, err := s.Digest(ctx, "src"); !errors.Is(err, writer.ErrNoSnapshot) {
		t.Errorf("digest before store: %v, want ErrNoSnapshot", err)
	}
	d1, err := s.Store(ctx, "src", []byte(`{"v":1}`))
	if err != nil {
		t.Fatal(err)
	}
	d2, err := s.Store(ctx, "src", []byte(`{"v":2}`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(d1, "SHA-256=") || d1 == d2 {
		t.Errorf("digests %q %q", d1, d2)
	}
	got, err := s.Load(ctx, "src")
	if err != nil || string(got) != `{"v":2}` {
		t.Errorf("load %q %v", got, err)
	}
	if d, err := s.Digest(ctx, "src"); err != nil || d != d2 {
		t.Errorf("digest %q %v, want %q", d, err, d2)
	}
}
