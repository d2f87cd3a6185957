package writer_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/internal/bus"
	"github.com/regsync/regsync/internal/syncer/writer"
)

func TestSnapshots(t *testing.T) {
	emb, err := bus.StartEmbedded(bus.EmbeddedOptions{StoreDir: filepath.Join(t.TempDir(), "js")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Shutdown)
	nc, err := bus.Connect(bus.ConnectOptions{Embedded: emb})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	h, err := bus.Ensure(context.Background(), js, bus.Resources{})
	if err != nil {
		t.Fatal(err)
	}
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
