package writer_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/bus"
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
	if _, err := s.Info(ctx, "src"); !errors.Is(err, writer.ErrNoSnapshot) {
		t.Errorf("info before store: %v, want ErrNoSnapshot", err)
	}
	if _, err := s.Index(ctx, "src", ""); !errors.Is(err, writer.ErrNoSnapshot) {
		t.Errorf("index before store: %v, want ErrNoSnapshot", err)
	}
	meta := writer.Meta{Revision: "abc", LastSyncHash: "h2", FilterHash: "f", ServerCount: 2, SkillCount: 1}
	i1, err := s.Store(ctx, "src", writer.Snapshot{Data: []byte(`{"v":1}`), Index: []byte(`{"a":"1"}`)})
	if err != nil {
		t.Fatal(err)
	}
	i2, err := s.Store(ctx, "src", writer.Snapshot{Data: []byte(`{"v":2}`), Index: []byte(`{"a":"2"}`), Meta: meta})
	if err != nil {
		t.Fatal(err)
	}
	d1, d2 := i1.Digest, i2.Digest
	if !strings.HasPrefix(d1, "SHA-256=") || d1 == d2 {
		t.Errorf("digests %q %q", d1, d2)
	}
	if i2.NUID == "" || i2.NUID == i1.NUID || i2.Size != uint64(len(`{"v":2}`)) || i2.Meta != meta {
		t.Errorf("stored %+v after %+v, want a new NUID, the size and the metadata", i2, i1)
	}
	got, err := s.Load(ctx, "src")
	if err != nil || string(got) != `{"v":2}` {
		t.Errorf("load %q %v", got, err)
	}
	if info, err := s.Info(ctx, "src"); err != nil || info != i2 {
		t.Errorf("info %+v %v, want %+v", info, err, i2)
	}
	if ix, err := s.Index(ctx, "src", ""); err != nil || string(ix) != `{"a":"2"}` {
		t.Errorf("index %q %v", ix, err)
	}
	// Given the digest of the snapshot its caller read the description of,
	// the index is read without reading that description again; an index
	// of another snapshot is refused.
	if ix, err := s.Index(ctx, "src", d2); err != nil || string(ix) != `{"a":"2"}` {
		t.Errorf("index of the snapshot described: %q, %v", ix, err)
	}
	if _, err := s.Index(ctx, "src", d1); !errors.Is(err, writer.ErrNoIndex) {
		t.Errorf("index asked for the previous snapshot: %v, want ErrNoIndex", err)
	}

	t.Run("metadata is readable with nothing but NATS", func(t *testing.T) {
		info, err := h.Data.GetInfo(ctx, "src")
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"revision": "abc", "lastSyncHash": "h2", "lastAppliedFilterHash": "f",
			"serverCount": "2", "skillCount": "1", "pluginCount": "0"}
		for k, v := range want {
			if info.Metadata[k] != v {
				t.Errorf("metadata %s = %q, want %q", k, info.Metadata[k], v)
			}
		}
	})
	t.Run("content replaced under the old description does not load", func(t *testing.T) {
		srv := bustest.Start(t, 0)
		s := writer.New(srv.Handles.Data)
		stored, err := s.Store(ctx, "src", writer.Snapshot{Data: []byte(`{"v":1}`), Index: []byte(`{}`), Meta: meta})
		if err != nil {
			t.Fatal(err)
		}
		bustest.ForgeObject(t, srv.JS, events.ObjectStoreData, "src", []byte(`{"v":9}`))
		if info, err := s.Info(ctx, "src"); err != nil || info != stored {
			t.Fatalf("the forged object describes itself as %+v %v, want %+v", info, err, stored)
		}
		if data, err := s.Load(ctx, "src"); !errors.Is(err, jetstream.ErrDigestMismatch) {
			t.Errorf("load of forged content = %q, %v; want a digest mismatch", data, err)
		}
	})
	t.Run("an index of another snapshot is no index", func(t *testing.T) {
		// The snapshot replaced behind the writer's back, as a failed
		// index write after a stored snapshot leaves it.
		if _, err := h.Data.PutBytes(ctx, "src", []byte(`{"v":3}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Index(ctx, "src", ""); !errors.Is(err, writer.ErrNoIndex) {
			t.Errorf("index of a replaced snapshot: %v, want ErrNoIndex", err)
		}
		if info, err := s.Info(ctx, "src"); err != nil || info.Meta != (writer.Meta{}) {
			t.Errorf("a snapshot put without metadata reports %+v %v", info, err)
		}
	})
}

// A large snapshot is stored in chunks of bus.ObjectChunkSize, not the
// object store's 128 KiB: a chunk longer than the server reads at once is
// copied whole by the server before it is stored, which for a 35 MB
// registry was as much garbage as the registry again, while its sync
// held its document. A snapshot smaller than a chunk is one chunk of its
// own size.
func TestSnapshotsAreStoredInChunksOfTheObjectChunkSize(t *testing.T) {
	h := bustest.Start(t, 0).Handles
	s := writer.New(h.Data)
	ctx := context.Background()
	data := []byte(`{"d":"` + strings.Repeat("x", 200<<10) + `"}`)
	if _, err := s.Store(ctx, "big", writer.Snapshot{Data: data, Index: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Store(ctx, "small", writer.Snapshot{Data: []byte(`{"v":1}`), Index: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]uint32{"big": bus.ObjectChunkSize, "small": uint32(len(`{"v":1}`))} {
		info, err := h.Data.GetInfo(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if info.Opts == nil || info.Opts.ChunkSize != want {
			t.Errorf("snapshot %s stored with %+v, want chunks of %d bytes", name, info.Opts, want)
		}
	}
	got, err := s.Load(ctx, "big")
	if err != nil || string(got) != string(data) {
		t.Errorf("load of the chunked snapshot: %d bytes, %v; want the %d stored", len(got), err, len(data))
	}
}
