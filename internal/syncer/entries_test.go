package syncer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/registry"
	"github.com/regsync/regsync/internal/syncer/entries"
	"github.com/regsync/regsync/internal/syncer/state"
	"github.com/regsync/regsync/internal/testsupport"
)

// recorder records what a sync asks to record, or fails.
type recorder struct {
	prepared   registry.Lists
	records    int
	committed  []entries.Sync
	prepareErr error
	writeErr   error
	forgotten  []string
}

func (r *recorder) Forget(source string) { r.forgotten = append(r.forgotten, source) }

func (r *recorder) Prepare(_ context.Context, _ string, lists registry.Lists) (*entries.Batch, error) {
	r.prepared = lists
	if r.prepareErr != nil {
		return nil, r.prepareErr
	}
	return new(entries.Batch), nil
}

func (r *recorder) WriteRecords(context.Context, *entries.Batch) error {
	r.records++
	return r.writeErr
}

func (r *recorder) Commit(_ context.Context, _ string, _ *entries.Batch, sy entries.Sync) (entries.Written, error) {
	r.committed = append(r.committed, sy)
	return entries.Written{}, nil
}

func TestPerformSyncRecordsTheSnapshotsEntries(t *testing.T) {
	src := config.Source{Name: "src", File: &config.File{Path: "x.json"}, SyncPolicy: &config.SyncPolicy{Interval: config.Duration(30 * time.Minute)}}

	t.Run("prepared from the snapshot, written after it is stored, committed by Commit", func(t *testing.T) {
		snaps := &memSnapshots{data: map[string][]byte{}}
		m := newTestManager(&fakeFetcher{raw: validRegistry}, snaps)
		rec := &recorder{}
		m.Entries = rec
		res, serr := m.PerformSync(context.Background(), src, Decision{}, "r-src-1")
		if serr != nil {
			t.Fatal(serr)
		}
		want, err := registry.SnapshotLists(snaps.data["src"])
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprintf("%q", rec.prepared) != fmt.Sprintf("%q", want) || rec.records != 1 || len(rec.committed) != 0 {
			t.Fatalf("prepared %q, the snapshot holds %q; records written %d times, committed %d times before Commit",
				rec.prepared, want, rec.records, len(rec.committed))
		}
		if err := m.Commit(context.Background(), src.Name, res); err != nil {
			t.Fatal(err)
		}
		want2 := entries.Sync{ResultID: "r-src-1", Revision: res.Revision, LastSyncHash: res.Hash, SnapshotDigest: res.SnapshotDigest}
		if len(rec.committed) != 1 || rec.committed[0] != want2 {
			t.Errorf("committed %+v, want %+v", rec.committed, want2)
		}
	})
	for _, c := range []struct {
		name          string
		rec           *recorder
		reason        string
		storedAlready bool
	}{
		{"two entries of one name and version are invalid data, not stored",
			&recorder{prepareErr: fmt.Errorf("record entries of src: server a version %q: %w", "1", entries.ErrConflict)},
			ConditionReasonValidationFailed, false},
		{"entries that cannot be read keep the snapshot unstored",
			&recorder{prepareErr: errors.New("bucket gone")}, ConditionReasonStorageFailed, false},
		{"entries not written fail the sync", &recorder{writeErr: errors.New("bucket gone")}, ConditionReasonStorageFailed, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			snaps := &memSnapshots{data: map[string][]byte{}}
			m := newTestManager(&fakeFetcher{raw: validRegistry}, snaps)
			m.Entries = c.rec
			_, serr := m.PerformSync(context.Background(), src, Decision{}, "")
			want := "bucket gone"
			if c.reason == ConditionReasonValidationFailed {
				want = `server a version "1"`
			}
			if serr == nil || serr.ConditionReason != c.reason || !strings.Contains(serr.Message, want) {
				t.Errorf("err %+v", serr)
			}
			if got := snaps.stores == 1; got != c.storedAlready {
				t.Errorf("snapshot stored: %v, want %v", got, c.storedAlready)
			}
		})
	}
}

func TestSetSourcesForgetsTheRecordsOfRemovedSources(t *testing.T) {
	src := config.Source{Name: "src", File: &config.File{Path: "x.json"}, SyncPolicy: &config.SyncPolicy{Interval: config.Duration(30 * time.Minute)}}
	m := newTestManager(&fakeFetcher{raw: validRegistry}, &memSnapshots{data: map[string][]byte{}})
	rec := &recorder{}
	m.Entries = rec
	m.SetSources([]config.Source{src})
	if _, serr := m.PerformSync(context.Background(), src, Decision{}, ""); serr != nil {
		t.Fatal(serr)
	}
	m.SetSources([]config.Source{src})
	if len(rec.forgotten) != 0 {
		t.Fatalf("forgot %v of a source still configured", rec.forgotten)
	}
	m.SetSources(nil)
	if fmt.Sprint(rec.forgotten) != "[src]" {
		t.Errorf("forgot %v, want [src]", rec.forgotten)
	}
}

// preparedSignal is a recorder that says when a sync began to prepare
// its entries.
type preparedSignal struct {
	*recorder
	began chan struct{}
}

func (r *preparedSignal) Prepare(ctx context.Context, source string, lists registry.Lists) (*entries.Batch, error) {
	close(r.began)
	return r.recorder.Prepare(ctx, source, lists)
}

// indexedAfterPrepare is a snapshot store whose index is answered only
// once the entries are being prepared (or says they never were).
type indexedAfterPrepare struct {
	*memSnapshots
	began <-chan struct{}
}

func (s *indexedAfterPrepare) Index(ctx context.Context, source, digest string) ([]byte, error) {
	select {
	case <-s.began:
		return s.memSnapshots.Index(ctx, source, digest)
	case <-time.After(testsupport.Patience):
		return nil, errors.New("the entries were not prepared while the previous index was read")
	}
}

// A sync after another replica's reads the previous snapshot's index and
// the source's stored entries at the same time: neither depends on the
// other, and each is a round trip or more.
func TestASyncReadsThePreviousIndexAndTheEntriesAtOnce(t *testing.T) {
	src := config.Source{Name: "src", File: &config.File{Path: "x.json"}}
	ctx := context.Background()
	snaps := &memSnapshots{data: map[string][]byte{}}
	st := state.Initial("")
	first := newTestManager(&fakeFetcher{raw: validRegistry}, snaps)
	res, serr := first.PerformSync(ctx, src, Decision{}, "r-src-1")
	if serr != nil {
		t.Fatal(serr)
	}
	RecordSuccess(st, res, ReasonSourceDataChanged, now)

	// Another replica's Manager, which knows nothing of that sync.
	rec := &preparedSignal{recorder: &recorder{}, began: make(chan struct{})}
	m := newTestManager(&fakeFetcher{raw: strings.Replace(validRegistry, "first", "first, edited", 1)}, snaps)
	m.snapshots = &indexedAfterPrepare{memSnapshots: snaps, began: rec.began}
	m.Entries = rec
	d := m.ShouldSync(ctx, src, st, Trigger{Changed: true})
	if d.Err != nil || d.Reason != ReasonSourceDataChanged {
		t.Fatalf("decision %v (%v)", d.Reason, d.Err)
	}
	loads := snaps.loads
	res, serr = m.PerformSync(ctx, src, d, "r-src-2")
	if serr != nil {
		t.Fatal(serr)
	}
	if snaps.loads != loads {
		t.Error("the previous snapshot was decoded: its index was not read")
	}
	if len(res.Diff.Updated) != 1 || len(res.Diff.Added)+len(res.Diff.Removed) != 0 {
		t.Errorf("diff %+v, want one server updated", res.Diff)
	}
}
