package syncer

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/syncer/entries"
)

// recorder records what a sync asks to record, or fails.
type recorder struct {
	calls []entries.Sync
	data  []byte
	err   error
}

func (r *recorder) Write(_ context.Context, _ string, snapshot []byte, sy entries.Sync) (entries.Written, error) {
	r.calls = append(r.calls, sy)
	r.data = snapshot
	return entries.Written{}, r.err
}

func TestPerformSyncRecordsTheStoredSnapshotsEntries(t *testing.T) {
	src := config.Source{Name: "src", File: &config.File{Path: "x.json"}, SyncPolicy: &config.SyncPolicy{Interval: config.Duration(30 * time.Minute)}}

	t.Run("after the snapshot is stored, with what the sync stored", func(t *testing.T) {
		snaps := &memSnapshots{data: map[string][]byte{}}
		m := newTestManager(&fakeFetcher{raw: validRegistry}, snaps)
		rec := &recorder{}
		m.Entries = rec
		res, serr := m.PerformSync(context.Background(), src, nil)
		if serr != nil {
			t.Fatal(serr)
		}
		if len(rec.calls) != 1 || string(rec.data) != string(snaps.data["src"]) {
			t.Fatalf("recorded %d times, data %q", len(rec.calls), rec.data)
		}
		if want := (entries.Sync{Revision: res.Revision, LastSyncHash: res.Hash, SnapshotDigest: res.SnapshotDigest}); rec.calls[0] != want {
			t.Errorf("recorded %+v, want %+v", rec.calls[0], want)
		}
	})
	t.Run("entries not recorded fail the sync", func(t *testing.T) {
		m := newTestManager(&fakeFetcher{raw: validRegistry}, &memSnapshots{data: map[string][]byte{}})
		m.Entries = &recorder{err: errors.New("bucket gone")}
		_, serr := m.PerformSync(context.Background(), src, nil)
		if serr == nil || serr.ConditionReason != ConditionReasonStorageFailed || !strings.Contains(serr.Message, "bucket gone") {
			t.Errorf("err %+v", serr)
		}
	})
}
