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
