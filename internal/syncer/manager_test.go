package syncer

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/registry"
	"github.com/regsync/regsync/internal/retry"
	"github.com/regsync/regsync/internal/sources"
	"github.com/regsync/regsync/internal/sources/gittest"
	"github.com/regsync/regsync/internal/syncer/state"
	"github.com/regsync/regsync/internal/syncer/writer"
	"github.com/regsync/regsync/internal/testsupport"
)

const validRegistry = `{"version":"1.0.0","meta":{"last_updated":"2026-01-01T00:00:00Z"},"data":{"servers":[
 {"name":"io.test/one","description":"first","version":"1.0.0"},
 {"name":"io.test/two","description":"second","version":"1.0.0"}]}}`

// fakeFetcher serves fixed bytes or an error, and counts fetches.
type fakeFetcher struct {
	raw     string
	err     error
	fetches int
}

func (f *fakeFetcher) Fetch(context.Context, config.Source) (*sources.Fetched, error) {
	f.fetches++
	if f.err != nil {
		return nil, f.err
	}
	h := registry.Hash([]byte(f.raw))
	return &sources.Fetched{Raw: []byte(f.raw), Hash: h, Revision: h}, nil
}

// memSnapshots keeps snapshots in memory. A snapshot put in data by hand
// has the metadata put in meta, if any.
type memSnapshots struct {
	data   map[string][]byte
	meta   map[string]writer.Meta
	index  map[string][]byte
	stores int
	loads  int
	// indexReads counts reads of the index kept with a snapshot, infos
	// reads of its description.
	indexReads int
	infos      int
	err        error
}

func (m *memSnapshots) Store(_ context.Context, s string, snap writer.Snapshot) (writer.Info, error) {
	if m.err != nil {
		return writer.Info{}, m.err
	}
	m.stores++
	m.data[s] = snap.Data
	m.setMeta(s, snap.Meta)
	if m.index == nil {
		m.index = map[string][]byte{}
	}
	m.index[s] = snap.Index
	return writer.Info{Digest: memDigest(snap.Data), Size: uint64(len(snap.Data)), Meta: snap.Meta}, nil
}

func (m *memSnapshots) setMeta(s string, meta writer.Meta) {
	if m.meta == nil {
		m.meta = map[string]writer.Meta{}
	}
	m.meta[s] = meta
}

func memDigest(d []byte) string { return "SHA-256=" + registry.Hash(d) }

func (m *memSnapshots) Index(_ context.Context, s, digest string) ([]byte, error) {
	m.indexReads++
	d, ok := m.data[s]
	if !ok {
		return nil, writer.ErrNoSnapshot
	}
	if digest != "" && digest != memDigest(d) {
		return nil, writer.ErrNoIndex
	}
	if ix, ok := m.index[s]; ok {
		return ix, nil
	}
	return nil, writer.ErrNoIndex
}

func (m *memSnapshots) Load(_ context.Context, s string) ([]byte, error) {
	m.loads++
	d, ok := m.data[s]
	if !ok {
		return nil, writer.ErrNoSnapshot
	}
	return d, nil
}

func (m *memSnapshots) Info(_ context.Context, s string) (writer.Info, error) {
	m.infos++
	d, ok := m.data[s]
	if !ok {
		return writer.Info{}, fmt.Errorf("snapshot of %s: %w", s, writer.ErrNoSnapshot)
	}
	return writer.Info{Digest: memDigest(d), Meta: m.meta[s]}, nil
}

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) *time.Time { t := now.Add(-d); return &t }

func newTestManager(f *fakeFetcher, snaps *memSnapshots) *Manager {
	m := NewManager(f, snaps, slog.New(slog.DiscardHandler))
	m.now = func() time.Time { return now }
	return m
}

func TestShouldSyncDecisionTable(t *testing.T) {
	hash := registry.Hash([]byte(validRegistry))
	nameFilter := &registry.Filter{Names: &registry.PatternSet{Include: []string{"io.test/*"}}}
	src := config.Source{Name: "src", File: &config.File{Path: "x.json"}, SyncPolicy: &config.SyncPolicy{Interval: config.Duration(30 * time.Minute)}}
	filtered := src
	filtered.Filter = nameFilter
	noPolicy := src
	noPolicy.SyncPolicy = nil

	complete := func(mod func(*state.Status)) *state.Status {
		st := &state.Status{Phase: state.PhaseComplete, LastSyncHash: hash, Revision: hash,
			LastAppliedFilterHash: registry.FilterHash(nil), SyncSchedule: "30m0s", LastAttempt: ago(5 * time.Minute)}
		if mod != nil {
			mod(st)
		}
		return st
	}
	cases := []struct {
		name     string
		src      config.Source
		status   *state.Status
		manual   bool
		changed  bool
		revision string
		// mixed: the batch also holds triggers naming other revisions.
		mixed    bool
		fetchErr error
		noSnap   bool
		// replaced stores another snapshot than the one the status
		// describes: other content, or no metadata.
		replaced  string
		want      Reason
		wantFetch bool
		wantData  bool
	}{
		{name: "failed phase is not ready", status: &state.Status{Phase: state.PhaseFailed}, want: ReasonRegistryNotReady, wantFetch: true, wantData: true},
		{name: "nil status is not ready", status: nil, want: ReasonRegistryNotReady, wantFetch: true, wantData: true},
		{name: "fresh Syncing under the lease is orphaned", status: &state.Status{Phase: state.PhaseSyncing, LastAttempt: ago(5 * time.Second)}, want: ReasonRegistryNotReady, wantFetch: true, wantData: true},
		{name: "Syncing without attempt time is orphaned", status: &state.Status{Phase: state.PhaseSyncing}, want: ReasonRegistryNotReady, wantFetch: true, wantData: true},
		{name: "orphaned Syncing with unchanged data still syncs", status: complete(func(s *state.Status) { s.Phase = state.PhaseSyncing; s.LastAttempt = ago(2 * time.Hour) }), want: ReasonRegistryNotReady, wantFetch: true, wantData: true},
		{name: "unparseable schedule", status: complete(func(s *state.Status) { s.SyncSchedule = "soon" }), want: ReasonErrorParsingInterval},
		{name: "complete and not due, with policy", status: complete(nil), want: ReasonUpToDateWithPolicy},
		{name: "complete without policy", src: noPolicy, status: complete(func(s *state.Status) { s.SyncSchedule = "" }), want: ReasonUpToDateNoPolicy},
		{name: "fetch error", status: &state.Status{Phase: state.PhaseFailed}, fetchErr: errors.New("boom"), want: ReasonErrorCheckingChanges, wantFetch: true},
		{name: "manual with changes", status: complete(func(s *state.Status) { s.LastSyncHash = "old" }), manual: true, want: ReasonManualWithChanges, wantFetch: true, wantData: true},
		{name: "manual without changes", status: complete(nil), manual: true, want: ReasonManualNoChanges, wantFetch: true},
		{name: "filter changed with data changed", src: filtered, status: complete(func(s *state.Status) { s.LastSyncHash = "old" }), want: ReasonFilterChanged, wantFetch: true, wantData: true},
		{name: "filter changed overrides manual", src: filtered, status: complete(nil), manual: true, want: ReasonFilterChanged, wantFetch: true, wantData: true},
		{name: "no recorded filter hash is no filter change", src: filtered, status: complete(func(s *state.Status) { s.LastAppliedFilterHash = "" }), want: ReasonUpToDateWithPolicy},
		{name: "interval due and data changed", status: complete(func(s *state.Status) { s.LastAttempt = ago(time.Hour); s.LastSyncHash = "old" }), want: ReasonSourceDataChanged, wantFetch: true, wantData: true},
		{name: "interval due and data unchanged", status: complete(func(s *state.Status) { s.LastAttempt = ago(time.Hour) }), want: ReasonUpToDateWithPolicy, wantFetch: true},
		{name: "change trigger with new data", status: complete(func(s *state.Status) { s.LastSyncHash = "old" }), changed: true, want: ReasonSourceDataChanged, wantFetch: true, wantData: true},
		{name: "change trigger with unchanged data", status: complete(nil), changed: true, want: ReasonUpToDateWithPolicy, wantFetch: true},
		{name: "change trigger naming the synced revision needs no fetch", status: complete(nil), changed: true, revision: hash, want: ReasonUpToDateWithPolicy},
		{name: "change trigger naming another revision fetches", status: complete(func(s *state.Status) { s.LastSyncHash = "old"; s.Revision = "old" }), changed: true, revision: "new", want: ReasonSourceDataChanged, wantFetch: true, wantData: true},
		{name: "missing snapshot is not ready", status: complete(nil), noSnap: true, want: ReasonRegistryNotReady, wantFetch: true, wantData: true},
		{name: "newest trigger naming the synced revision beside others reads the data", status: complete(func(s *state.Status) { s.LastSyncHash = "old"; s.Revision = "old" }), changed: true, revision: "old", mixed: true, want: ReasonSourceDataChanged, wantFetch: true, wantData: true},
		{name: "stale trigger beside a new one reads the data", status: complete(nil), changed: true, revision: hash, mixed: true, want: ReasonUpToDateWithPolicy, wantFetch: true},
		{name: "manual beside a change naming the synced revision reads the data", status: complete(nil), manual: true, changed: true, revision: hash, want: ReasonManualNoChanges, wantFetch: true},
		{name: "snapshot with another digest is not ready", status: complete(func(s *state.Status) { s.SnapshotDigest = memDigest([]byte("{}")) }), replaced: "content", want: ReasonRegistryNotReady, wantFetch: true, wantData: true},
		{name: "snapshot without the synced hash is not ready", status: complete(nil), replaced: "metadata", want: ReasonRegistryNotReady, wantFetch: true, wantData: true},
		{name: "manual sync restores a replaced snapshot", status: complete(func(s *state.Status) { s.SnapshotDigest = memDigest([]byte("{}")) }), replaced: "content", manual: true, want: ReasonRegistryNotReady, wantFetch: true, wantData: true},
		{name: "change trigger naming the synced revision restores a replaced snapshot", status: complete(nil), replaced: "metadata", changed: true, revision: hash, want: ReasonRegistryNotReady, wantFetch: true, wantData: true},
		{name: "snapshot with the recorded digest is up to date", status: complete(func(s *state.Status) { s.SnapshotDigest = memDigest([]byte("{}")) }), want: ReasonUpToDateWithPolicy},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeFetcher{raw: validRegistry, err: tc.fetchErr}
			snaps := &memSnapshots{data: map[string][]byte{}}
			if !tc.noSnap {
				snaps.data["src"] = []byte("{}")
				if tc.status != nil {
					snaps.setMeta("src", writer.Meta{LastSyncHash: tc.status.LastSyncHash})
				}
			}
			switch tc.replaced {
			case "content":
				snaps.data["src"] = []byte(`{"backdoor":true}`)
			case "metadata":
				snaps.setMeta("src", writer.Meta{})
			}
			m := newTestManager(f, snaps)
			src := tc.src
			if src.Name == "" {
				src = config.Source{Name: "src", File: &config.File{Path: "x.json"}, SyncPolicy: &config.SyncPolicy{Interval: config.Duration(30 * time.Minute)}}
			}
			trig := Trigger{Manual: tc.manual, Changed: tc.changed, Revision: tc.revision}
			if tc.changed && !tc.manual && !tc.mixed {
				trig.OnlyRevision = tc.revision
			}
			d := m.ShouldSync(context.Background(), src, tc.status, trig)
			got, pre := d.Reason, d.Fetched
			if (d.Err != nil) != (got.IsError() || got == ReasonErrorCheckingChanges) {
				t.Errorf("reason %s with error %v: an error reason comes with its error", got, d.Err)
			}
			if got != tc.want {
				t.Errorf("reason %s, want %s", got, tc.want)
			}
			if (f.fetches > 0) != tc.wantFetch {
				t.Errorf("fetched %d times, want fetch=%v", f.fetches, tc.wantFetch)
			}
			if (pre != nil) != tc.wantData {
				t.Errorf("prefetched %v, want data=%v", pre != nil, tc.wantData)
			}
			if got.ShouldSync() != tc.wantData && got != ReasonErrorCheckingChanges {
				t.Errorf("ShouldSync()=%v but prefetched=%v", got.ShouldSync(), pre != nil)
			}
		})
	}
}

func TestReasonStringsAndShouldSync(t *testing.T) {
	want := []string{"registry-not-ready", "filter-changed", "source-data-changed", "error-checking-data-changes",
		"manual-sync-with-data-changes", "sync-already-in-progress", "manual-sync-no-data-changes",
		"error-parsing-sync-interval", "error-checking-sync-need", "up-to-date-with-policy", "up-to-date-no-policy"}
	for i, w := range want {
		r := Reason(i)
		if r.String() != w {
			t.Errorf("Reason(%d) = %q, want %q", i, r, w)
		}
		if r.ShouldSync() != (i <= 4) {
			t.Errorf("%s.ShouldSync() = %v", r, r.ShouldSync())
		}
	}
	if Reason(11).String() != "unknown-sync-reason" || Reason(-1).String() != "unknown-sync-reason" {
		t.Error("out-of-range reasons must be unknown-sync-reason")
	}
	for r, manual := range map[Reason]bool{ReasonManualWithChanges: true, ReasonManualNoChanges: true,
		ReasonSourceDataChanged: false, ReasonRegistryNotReady: false, ReasonUpToDateWithPolicy: false} {
		if IsManualSync(r) != manual {
			t.Errorf("IsManualSync(%s) = %v", r, !manual)
		}
	}
}

func TestPerformSync(t *testing.T) {
	src := config.Source{Name: "src", File: &config.File{Path: "x.json"}, SyncPolicy: &config.SyncPolicy{Interval: config.Duration(30 * time.Minute)}}

	t.Run("valid data is filtered and stored", func(t *testing.T) {
		snaps := &memSnapshots{data: map[string][]byte{}}
		m := newTestManager(&fakeFetcher{raw: validRegistry}, snaps)
		s := src
		s.Filter = &registry.Filter{Names: &registry.PatternSet{Exclude: []string{"*/two"}}}
		res, err := m.PerformSync(context.Background(), s, Decision{}, "")
		if err != nil {
			t.Fatal(err)
		}
		if res.ServerCount != 1 || snaps.stores != 1 || res.Hash != registry.Hash([]byte(validRegistry)) ||
			res.FilterHash != registry.FilterHash(s.Filter) || len(res.Diff.Added) != 1 {
			t.Errorf("result %+v, stores %d", res, snaps.stores)
		}
	})
	t.Run("prefetched data is not fetched again", func(t *testing.T) {
		f := &fakeFetcher{err: errors.New("must not fetch")}
		m := newTestManager(f, &memSnapshots{data: map[string][]byte{}})
		h := registry.Hash([]byte(validRegistry))
		res, err := m.PerformSync(context.Background(), src, Decision{Fetched: &sources.Fetched{Raw: []byte(validRegistry), Hash: h, Revision: h}}, "")
		if err != nil || f.fetches != 0 || res.Hash != h {
			t.Errorf("res %+v err %v fetches %d", res, err, f.fetches)
		}
	})
	t.Run("the diff reads the index kept with the snapshot, never the snapshot", func(t *testing.T) {
		snaps := &memSnapshots{data: map[string][]byte{}}
		f := &fakeFetcher{raw: validRegistry}
		m := newTestManager(f, snaps)
		if _, err := m.PerformSync(context.Background(), src, Decision{}, ""); err != nil {
			t.Fatal(err)
		}
		f.raw = strings.Replace(validRegistry, `"second"`, `"second, edited"`, 1)
		res, err := m.PerformSync(context.Background(), src, Decision{}, "")
		if err != nil {
			t.Fatal(err)
		}
		if snaps.loads != 0 {
			t.Errorf("the previous snapshot was loaded %d times", snaps.loads)
		}
		if want := []string{"io.test/two"}; !slices.Equal(res.Diff.Updated, want) || len(res.Diff.Added)+len(res.Diff.Removed) != 0 {
			t.Errorf("diff %+v, want updated %v", res.Diff, want)
		}
	})
	t.Run("the diff uses the index of the snapshot it stored, while that one is stored", func(t *testing.T) {
		snaps := &memSnapshots{data: map[string][]byte{}}
		f := &fakeFetcher{raw: validRegistry}
		m := newTestManager(f, snaps)
		for i, edit := range []string{`"first, edited"`, `"first, edited again"`} {
			if _, err := m.PerformSync(context.Background(), src, Decision{}, ""); err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				snaps.indexReads = 0 // the first sync found nothing stored
			}
			f.raw = strings.Replace(validRegistry, `"first"`, edit, 1)
			if i == 1 {
				// Replaced behind the Manager's back: read what is stored.
				snaps.data["src"] = []byte(validRegistry + " ")
				snaps.index["src"] = []byte(`{}`)
			}
		}
		res, err := m.PerformSync(context.Background(), src, Decision{}, "")
		if err != nil {
			t.Fatal(err)
		}
		if snaps.indexReads != 1 {
			t.Errorf("the stored index was read %d times, want once (after the snapshot was replaced)", snaps.indexReads)
		}
		if want := []string{"io.test/one", "io.test/two"}; !slices.Equal(res.Diff.Added, want) {
			t.Errorf("diff %+v against the replaced snapshot's empty index, want added %v", res.Diff, want)
		}
	})
	t.Run("a snapshot stored without an index is decoded for the diff", func(t *testing.T) {
		snaps := &memSnapshots{data: map[string][]byte{"src": []byte(validRegistry)}}
		f := &fakeFetcher{raw: strings.Replace(validRegistry, `"first"`, `"first, edited"`, 1)}
		res, err := newTestManager(f, snaps).PerformSync(context.Background(), src, Decision{}, "")
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"io.test/one"}; !slices.Equal(res.Diff.Updated, want) || snaps.loads != 1 {
			t.Errorf("diff %+v after %d loads, want updated %v", res.Diff, snaps.loads, want)
		}
	})
	t.Run("the snapshot carries what was synced in its metadata", func(t *testing.T) {
		snaps := &memSnapshots{data: map[string][]byte{}}
		res, err := newTestManager(&fakeFetcher{raw: validRegistry}, snaps).PerformSync(context.Background(), src, Decision{}, "")
		if err != nil {
			t.Fatal(err)
		}
		want := writer.Meta{Revision: res.Revision, LastSyncHash: res.Hash, FilterHash: res.FilterHash, ServerCount: 2}
		if got := snaps.meta["src"]; got != want {
			t.Errorf("metadata %+v, want %+v", got, want)
		}
	})
	failures := []struct {
		name          string
		fetcher       *fakeFetcher
		storeErr      error
		condType, msg string
	}{
		{"fetch failure", &fakeFetcher{err: errors.New("file not found: x.json")}, nil, ConditionSourceAvailable, "Fetch failed: file not found"},
		{"invalid data", &fakeFetcher{raw: `{"version":`}, nil, ConditionDataValid, "Validation failed:"},
		{"storage failure", &fakeFetcher{raw: validRegistry}, errors.New("disk full"), ConditionSyncSuccessful, "Storage failed: disk full"},
	}
	for _, tc := range failures {
		t.Run(tc.name+" stores nothing", func(t *testing.T) {
			snaps := &memSnapshots{data: map[string][]byte{"src": []byte("good")}, err: tc.storeErr}
			m := newTestManager(tc.fetcher, snaps)
			_, err := m.PerformSync(context.Background(), src, Decision{}, "")
			if err == nil {
				t.Fatal("no error")
			}
			if err.ConditionType != tc.condType || !strings.HasPrefix(err.Message, tc.msg) {
				t.Errorf("error %+v, want %s %q", err, tc.condType, tc.msg)
			}
			if string(snaps.data["src"]) != "good" {
				t.Error("the last good snapshot was replaced")
			}
		})
	}
}

func TestRecordFailureKeepsLastGood(t *testing.T) {
	st := &state.Status{Phase: state.PhaseComplete, LastSyncHash: "good", ServerCount: 7, LastAppliedFilterHash: "f", Revision: "r"}
	e := &Error{Message: "Fetch failed: gone", ConditionType: ConditionSourceAvailable, ConditionReason: ConditionReasonFetchFailed}
	RecordFailure(st, e, ReasonSourceDataChanged, now, true)
	RecordFailure(st, e, ReasonSourceDataChanged, now.Add(time.Minute), true)
	if st.AttemptCount != 2 || st.LastSyncHash != "good" || st.ServerCount != 7 || st.Revision != "r" || st.LastAppliedFilterHash != "f" {
		t.Errorf("status %+v", st)
	}
	c, _ := st.Condition(ConditionSourceAvailable)
	if c.Status != state.ConditionFalse || !c.LastTransitionTime.Equal(now) {
		t.Errorf("condition %+v: transition time must stay at the first failure", c)
	}
	RecordSuccess(st, &Result{Hash: "new", ServerCount: 3}, ReasonRegistryNotReady, now.Add(2*time.Minute))
	c, _ = st.Condition(ConditionSourceAvailable)
	if st.AttemptCount != 0 || c.Status != state.ConditionTrue || !c.LastTransitionTime.Equal(now.Add(2*time.Minute)) {
		t.Errorf("after success: %+v, condition %+v", st, c)
	}
}

func TestRetryBackoff(t *testing.T) {
	for attempts, want := range map[int]time.Duration{1: 5 * time.Second, 2: 10 * time.Second, 3: 20 * time.Second, 20: 5 * time.Minute} {
		if got := RetryBackoff(attempts); got != want {
			t.Errorf("RetryBackoff(%d) = %v, want %v", attempts, got, want)
		}
	}
}

// laggingRemote serves an old commit for a number of fetches, then a new one.
type laggingRemote struct {
	old, new string
	lag      int
	fetches  int
}

func (r *laggingRemote) Fetch(context.Context, config.Source) (*sources.Fetched, error) {
	r.fetches++
	rev := r.new
	if r.fetches <= r.lag {
		rev = r.old
	}
	return &sources.Fetched{Raw: []byte(validRegistry), Hash: "h-" + rev, Revision: rev}, nil
}

// seenRemote is a laggingRemote whose clone holds the commits in seen.
type seenRemote struct {
	laggingRemote
	seen []string
}

func (r *seenRemote) Seen(_ context.Context, _ config.Source, revision string) bool {
	return slices.Contains(r.seen, revision)
}

// failingRemote is a remote that cannot be read.
type failingRemote struct{ fetches int }

func (r *failingRemote) Fetch(context.Context, config.Source) (*sources.Fetched, error) {
	r.fetches++
	return nil, errors.New("connection refused")
}

// A decision reads the source once; only a commit announced but not yet
// served costs more fetches, one per pause.
func TestReadAwaitsAnAnnouncedRevision(t *testing.T) {
	git := config.Source{Name: "g", Git: &config.Git{Repository: "https://x/r.git", Branch: "main"}}
	synced := &state.Status{Phase: state.PhaseComplete, Revision: "old"}
	cases := []struct {
		name        string
		src         config.Source
		lag         int
		revision    string
		wantErr     bool
		wantFetches int
	}{
		{"the remote serves the announced commit", git, 0, "new", false, 1},
		{"the remote serves it after a while", git, 3, "new", false, 4},
		{"the remote moved past it", git, 0, "older-than-new", false, 1},
		{"the remote never serves it: the branch serves the synced commit", git, 100, "new", false, 4},
		{"the announced commit is the synced one", git, 100, "old", false, 1},
		{"no revision announced", git, 100, "", false, 1},
		{"not a git source", config.Source{Name: "f", File: &config.File{Path: "x"}}, 100, "new", false, 1},
		{"a replayed push of a commit served before", git, 100, "older", false, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			remote := &seenRemote{laggingRemote: laggingRemote{old: "old", new: "new", lag: tc.lag}, seen: []string{"older", "old"}}
			m := newTestManager(nil, &memSnapshots{data: map[string][]byte{}})
			m.fetcher = remote
			m.revisionWait = retry.Backoff{First: time.Millisecond, Limit: time.Millisecond, Attempts: 4}
			fetched, err := m.read(context.Background(), tc.src, synced, tc.revision)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if err == nil && (fetched == nil || fetched.Revision != remote.new && fetched.Revision != "old") {
				t.Errorf("fetched %+v", fetched)
			}
			if remote.fetches != tc.wantFetches {
				t.Errorf("%d fetches, want %d", remote.fetches, tc.wantFetches)
			}
		})
	}
	t.Run("a remote that cannot be read fails at once", func(t *testing.T) {
		remote := &failingRemote{}
		m := newTestManager(nil, &memSnapshots{data: map[string][]byte{}})
		m.fetcher = remote
		_, err := m.read(context.Background(), git, synced, "new")
		if err == nil || err.ConditionReason != ConditionReasonFetchFailed || remote.fetches != 1 {
			t.Errorf("err %+v after %d fetches; want the fetch error after 1", err, remote.fetches)
		}
	})
}

func TestUnreadableSourceIsFetchedOnceAndFailsWithTheFetchError(t *testing.T) {
	f := &fakeFetcher{err: errors.New("connection refused")}
	m := newTestManager(f, &memSnapshots{data: map[string][]byte{}})
	src := config.Source{Name: "src", File: &config.File{Path: "x.json"}}
	d := m.ShouldSync(context.Background(), src, nil, Trigger{Manual: true})
	if d.Reason != ReasonErrorCheckingChanges || d.Err == nil || d.Err.ConditionReason != ConditionReasonFetchFailed {
		t.Fatalf("decision %+v, want error-checking-data-changes with the fetch error", d)
	}
	if !strings.Contains(d.Err.Message, "connection refused") {
		t.Errorf("message %q does not say why", d.Err.Message)
	}
	if f.fetches != 1 {
		t.Errorf("%d fetches, want 1: the failure is answered without fetching again", f.fetches)
	}
}

func TestSetSourcesForgetsRemovedSources(t *testing.T) {
	srcA := config.Source{Name: "a", File: &config.File{Path: "a.json"}, SyncPolicy: &config.SyncPolicy{Interval: config.Duration(30 * time.Minute)}}
	srcB := config.Source{Name: "b", File: &config.File{Path: "b.json"}, SyncPolicy: &config.SyncPolicy{Interval: config.Duration(30 * time.Minute)}}
	m := newTestManager(&fakeFetcher{raw: validRegistry}, &memSnapshots{data: map[string][]byte{}})
	for _, src := range []config.Source{srcA, srcB} {
		if _, err := m.PerformSync(context.Background(), src, Decision{}, ""); err != nil {
			t.Fatal(err)
		}
	}
	if len(m.memory) != 2 {
		t.Fatalf("kept for %d sources after syncing two", len(m.memory))
	}

	m.SetSources([]config.Source{srcA})
	if _, ok := m.memory["b"]; ok || m.memory["a"] == nil {
		t.Errorf("after removing b, kept for %v, want a only", slices.Sorted(maps.Keys(m.memory)))
	}

	t.Run("a sync of a removed source still under way keeps nothing", func(t *testing.T) {
		if _, err := m.PerformSync(context.Background(), srcB, Decision{}, ""); err != nil {
			t.Fatal(err)
		}
		if _, ok := m.memory["b"]; ok {
			t.Error("the removed source is kept again")
		}
	})
}

func TestPerformSyncReadsAgainAFileFinishedAfterItWasRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.json")
	if err := os.WriteFile(path, []byte(validRegistry[:len(validRegistry)/2]), 0o644); err != nil {
		t.Fatal(err)
	}
	src := config.Source{Name: "src", File: &config.File{Path: path}, SyncPolicy: &config.SyncPolicy{Interval: config.Duration(30 * time.Minute)}}
	fetcher := &sources.Fetcher{}
	snaps := &memSnapshots{data: map[string][]byte{}}
	m := NewManager(fetcher, snaps, slog.New(slog.DiscardHandler))
	// The decision read the file while the writer was half way.
	cut, err := fetcher.Fetch(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(validRegistry), 0o644); err != nil {
		t.Fatal(err)
	}
	res, serr := m.PerformSync(context.Background(), src, Decision{Fetched: cut}, "")
	if serr != nil {
		t.Fatalf("the sync failed on the file cut short: %s", serr.Message)
	}
	if want := registry.Hash([]byte(validRegistry)); res.Hash != want || res.ServerCount != 2 {
		t.Errorf("synced hash %s with %d servers, want the finished file's %s with 2", res.Hash, res.ServerCount, want)
	}

	t.Run("invalid data that nobody changes since still fails", func(t *testing.T) {
		if err := os.WriteFile(path, []byte(`{"version":`), 0o644); err != nil {
			t.Fatal(err)
		}
		_, serr := m.PerformSync(context.Background(), src, Decision{}, "")
		if serr == nil || serr.ConditionType != ConditionDataValid {
			t.Errorf("err %v, want a validation failure", serr)
		}
	})
}

// A push of an older commit replayed after the clone was rebuilt (an
// emptyDir, a clone regrown, another replica) cannot be told from a push
// the remote does not serve yet, so the read waits for it; when the
// remote still serves the synced commit after the waits, the source is up
// to date with its branch: the replay is answered skipped, not failed.
func TestReplayedOlderPushAfterTheCloneWasRebuiltIsSkipped(t *testing.T) {
	gittest.Git(t)
	repo := gittest.NewServer(t).NewRepo(t, "registry")
	older := repo.Push(map[string]string{"registry.json": validRegistry})
	repo.Push(map[string]string{"registry.json": strings.Replace(validRegistry, "first", "first, edited", 1)})
	src := config.Source{Name: "g", Git: &config.Git{Repository: repo.URL, Branch: "main", Path: "registry.json"}}
	dataDir := t.TempDir()
	m := NewManager(&sources.Fetcher{DataDir: dataDir}, &memSnapshots{data: map[string][]byte{}}, slog.New(slog.DiscardHandler))
	m.revisionWait = retry.Backoff{First: time.Millisecond, Limit: time.Millisecond, Attempts: 3}
	ctx := context.Background()

	st := state.Initial("")
	d := m.ShouldSync(ctx, src, st, Trigger{Changed: true})
	if d.Err != nil {
		t.Fatal(d.Err)
	}
	res, serr := m.PerformSync(ctx, src, d, "")
	if serr != nil {
		t.Fatal(serr)
	}
	RecordSuccess(st, res, d.Reason, now)

	if err := os.RemoveAll(filepath.Join(dataDir, "git")); err != nil {
		t.Fatal(err)
	}
	d = m.ShouldSync(ctx, src, st, Trigger{Changed: true, Revision: older, OnlyRevision: older})
	if d.Err != nil || d.Reason != ReasonUpToDateNoPolicy {
		t.Errorf("replayed push of %s answered %s %v, want %s", older, d.Reason, d.Err, ReasonUpToDateNoPolicy)
	}
}

// A filter that keeps nothing of a source that has entries is a mistake in
// the filter (a glob typo), not news that every server was removed: the
// sync fails and the last good snapshot stays. An empty source is judged
// by validation alone, as before.
func TestPerformSyncRefusesAFilterThatRemovesEverything(t *testing.T) {
	src := config.Source{Name: "src", File: &config.File{Path: "x.json"}, SyncPolicy: &config.SyncPolicy{Interval: config.Duration(30 * time.Minute)},
		Filter: &registry.Filter{Names: &registry.PatternSet{Include: []string{"io.tset/*"}}}}
	t.Run("a source with entries", func(t *testing.T) {
		snaps := &memSnapshots{data: map[string][]byte{"src": []byte("good")}}
		_, err := newTestManager(&fakeFetcher{raw: validRegistry}, snaps).PerformSync(context.Background(), src, Decision{}, "")
		if err == nil {
			t.Fatal("the sync succeeded with every entry filtered out")
		}
		if err.ConditionType != ConditionDataValid || err.ConditionReason != ConditionReasonFilterRemovedEverything ||
			!strings.Contains(err.Message, "2 servers") || !strings.Contains(err.Message, "none") {
			t.Errorf("error %s/%s %q, want DataValid/FilterRemovedEverything naming the counts", err.ConditionType, err.ConditionReason, err.Message)
		}
		if string(snaps.data["src"]) != "good" || snaps.stores != 0 {
			t.Error("the last good snapshot was replaced")
		}
	})
	t.Run("an empty source is not the filter's fault", func(t *testing.T) {
		empty := `{"version":"1.0.0","meta":{"last_updated":"2026-01-01T00:00:00Z"},"data":{"servers":[]}}`
		_, err := newTestManager(&fakeFetcher{raw: empty}, &memSnapshots{data: map[string][]byte{}}).PerformSync(context.Background(), src, Decision{}, "")
		if err == nil || err.ConditionReason != ConditionReasonValidationFailed {
			t.Errorf("err %v, want the validation failure an empty upstream always had", err)
		}
	})
}

// A failure's message is recorded in the status record (three times) and
// published in a sync.failed event, so it is bounded whatever the error
// says: a remote's whole error page, a store's long answer.
func TestFailureMessagesAreBounded(t *testing.T) {
	src := config.Source{Name: "src", File: &config.File{Path: "x.json"}}
	huge := strings.Repeat("remote says ", 200_000)
	check := func(t *testing.T, serr *Error, prefix string) {
		t.Helper()
		if serr == nil {
			t.Fatal("no failure")
		}
		if len(serr.Message) > events.MaxMessageLen {
			t.Errorf("message is %d bytes, want at most %d", len(serr.Message), events.MaxMessageLen)
		}
		if !strings.HasPrefix(serr.Message, prefix+"remote says") || !strings.HasSuffix(serr.Message, "…") {
			t.Errorf("message %q does not say what failed and that it was cut", events.Clip(serr.Message, 100))
		}
	}
	t.Run("fetch", func(t *testing.T) {
		m := newTestManager(&fakeFetcher{err: errors.New(huge)}, &memSnapshots{data: map[string][]byte{}})
		check(t, m.ShouldSync(context.Background(), src, nil, Trigger{Manual: true}).Err, "Fetch failed: ")
		_, serr := m.PerformSync(context.Background(), src, Decision{}, "")
		check(t, serr, "Fetch failed: ")
	})
	t.Run("storage", func(t *testing.T) {
		m := newTestManager(&fakeFetcher{raw: validRegistry}, &memSnapshots{data: map[string][]byte{}, err: errors.New(huge)})
		_, serr := m.PerformSync(context.Background(), src, Decision{}, "")
		check(t, serr, "Storage failed: ")
	})
}

// Release drops the fetched document and, after a large one, calls the
// memory hook main injects; the syncer itself never decides how memory
// goes back to the operating system.
func TestReleaseCallsTheMemoryHookAfterALargeDocument(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fetched *sources.Fetched
		want    int
	}{
		{"nothing fetched", nil, 0},
		{"a small document", &sources.Fetched{Raw: make([]byte, 1<<10)}, 0},
		{"a document of the threshold", &sources.Fetched{Raw: make([]byte, releaseSize)}, 0},
		{"a large document", &sources.Fetched{Raw: make([]byte, releaseSize+1)}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			m := newTestManager(&fakeFetcher{}, &memSnapshots{})
			m.ReturnMemory = func() { calls++ }
			d := Decision{Fetched: tc.fetched}
			m.Release(&d)
			if d.Fetched != nil {
				t.Error("the fetched document is still held")
			}
			if calls != tc.want {
				t.Errorf("memory hook called %d times, want %d", calls, tc.want)
			}
		})
	}
	t.Run("without a hook", func(t *testing.T) {
		m := newTestManager(&fakeFetcher{}, &memSnapshots{})
		d := Decision{Fetched: &sources.Fetched{Raw: make([]byte, releaseSize+1)}}
		m.Release(&d)
		if d.Fetched != nil {
			t.Error("the fetched document is still held")
		}
	})
}

// A sync decided on the stored snapshot's description diffs against the
// index it keeps without asking for that description again: one read of
// it a sync, not two.
func TestAnEditSyncReadsTheSnapshotsDescriptionOnce(t *testing.T) {
	f := &fakeFetcher{raw: validRegistry}
	snaps := &memSnapshots{data: map[string][]byte{}}
	m := newTestManager(f, snaps)
	src := config.Source{Name: "src", File: &config.File{Path: "x.json"}}
	ctx := context.Background()
	st := state.Initial("")
	sync := func() *Result {
		t.Helper()
		d := m.ShouldSync(ctx, src, st, Trigger{Changed: true})
		if d.Err != nil || !d.Reason.ShouldSync() {
			t.Fatalf("decision %v, %v", d.Reason, d.Err)
		}
		res, serr := m.PerformSync(ctx, src, d, "")
		if serr != nil {
			t.Fatal(serr)
		}
		RecordSuccess(st, res, d.Reason, now)
		return res
	}
	sync()
	f.raw = strings.Replace(validRegistry, "first", "first, edited", 1)
	snaps.infos, snaps.indexReads = 0, 0
	res := sync()
	if snaps.infos != 1 || snaps.indexReads != 0 {
		t.Errorf("the edit read the description %d times and the index %d times, want once and none", snaps.infos, snaps.indexReads)
	}
	if len(res.Diff.Updated) != 1 {
		t.Errorf("diff %+v, want one server updated", res.Diff)
	}
}

// A sync asks the entries main wires in (Manager.Accepted) which of the
// source's entries were checked and stored before, and does not check
// those again: here it accepts every one, asked about each server entry.
func TestSyncTakesTheEntriesStoredBeforeAsChecked(t *testing.T) {
	m := newTestManager(&fakeFetcher{raw: validRegistry}, &memSnapshots{data: map[string][]byte{}})
	var sources []string
	var asked atomic.Int64 // from every core the build checks on
	m.Accepted = func(source string) registry.Accepted {
		sources = append(sources, source)
		return func([sha256.Size]byte) bool { asked.Add(1); return true }
	}
	src := config.Source{Name: "src", File: &config.File{Path: "x.json"}}
	if _, serr := m.PerformSync(context.Background(), src, Decision{}, ""); serr != nil {
		t.Fatal(serr)
	}
	if !slices.Equal(sources, []string{"src"}) || asked.Load() != 2 {
		t.Errorf("accepted entries asked of sources %v, about %d entries; want src's, about its 2", sources, asked.Load())
	}
}

// fetchSignal is a fetcher that says when a fetch began.
type fetchSignal struct {
	*fakeFetcher
	began chan struct{}
	once  sync.Once
}

func (f *fetchSignal) Fetch(ctx context.Context, src config.Source) (*sources.Fetched, error) {
	f.once.Do(func() { close(f.began) })
	return f.fakeFetcher.Fetch(ctx, src)
}

// describedAfterFetch is a snapshot store whose description is answered
// only once a fetch began (or says it never did).
type describedAfterFetch struct {
	*memSnapshots
	began <-chan struct{}
}

func (s *describedAfterFetch) Info(ctx context.Context, source string) (writer.Info, error) {
	select {
	case <-s.began:
		return s.memSnapshots.Info(ctx, source)
	case <-time.After(testsupport.Patience):
		return writer.Info{}, errors.New("the source was not read while the snapshot's description was asked for")
	}
}

// A decision that reads the source whatever the snapshot (a changed
// source, a manual request) asks for the snapshot's description while it
// reads the source, not before: a round trip less on the way to the sync.
// It decides as it would one after the other.
func TestADecisionThatReadsTheSourceDescribesTheSnapshotMeanwhile(t *testing.T) {
	src := config.Source{Name: "src", File: &config.File{Path: "x.json"}}
	ctx := context.Background()
	for _, tt := range []struct {
		name    string
		trigger Trigger
		want    Reason
	}{
		{"a changed source", Trigger{Changed: true}, ReasonSourceDataChanged},
		{"a manual request", Trigger{Manual: true}, ReasonManualWithChanges},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeFetcher{raw: validRegistry}
			snaps := &memSnapshots{data: map[string][]byte{}}
			m := newTestManager(f, snaps)
			st := state.Initial("")
			d := m.ShouldSync(ctx, src, st, Trigger{Changed: true})
			res, serr := m.PerformSync(ctx, src, d, "")
			if serr != nil {
				t.Fatal(serr)
			}
			RecordSuccess(st, res, d.Reason, now)
			m.Release(&d)

			f.raw = strings.Replace(validRegistry, "first", "first, edited", 1)
			signal := &fetchSignal{fakeFetcher: f, began: make(chan struct{})}
			m = newTestManager(&fakeFetcher{}, snaps)
			m.fetcher = signal
			m.snapshots = &describedAfterFetch{memSnapshots: snaps, began: signal.began}
			d = m.ShouldSync(ctx, src, st, tt.trigger)
			if d.Err != nil || d.Reason != tt.want {
				t.Fatalf("decision %v (%v), want %v", d.Reason, d.Err, tt.want)
			}
			if d.snapshot == nil {
				t.Error("the decision hands the sync no snapshot description")
			}
		})
	}
}
