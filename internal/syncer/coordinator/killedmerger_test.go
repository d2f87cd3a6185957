package coordinator

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/registry"
	"github.com/regsync/regsync/internal/registry/merge"
	"github.com/regsync/regsync/internal/registry/views"
	"github.com/regsync/regsync/internal/syncer/entries"
	"github.com/regsync/regsync/internal/testsupport"
)

// killedObjects stands for a registry holder killed at its next object
// put: before it, or right after it.
type killedObjects struct {
	jetstream.ObjectStore
	afterPut bool
}

func (o killedObjects) Put(ctx context.Context, meta jetstream.ObjectMeta, r io.Reader) (*jetstream.ObjectInfo, error) {
	if o.afterPut {
		if _, err := o.ObjectStore.Put(ctx, meta, r); err != nil {
			return nil, err
		}
	}
	return nil, errors.New("the holder was killed")
}

// A holder killed before or after it stores the object of a new
// generation leaves that change announced once, by the next holder, with
// the diff against the generation before (not every entry as added), and
// the object stored the recorded generation's.
func TestAHolderKilledAroundStoringAGenerationLeavesItAnnouncedOnce(t *testing.T) {
	for _, c := range []struct {
		name     string
		afterPut bool
	}{{"killed before storing the object", false}, {"killed after storing the object", true}} {
		t.Run(c.name, func(t *testing.T) {
			f := startMerger(t)
			first, fl := f.followedMerger("replica-a")
			viewOf := func(result string) { f.awaitView(fl, result) }
			viewOf(f.write("a", srv("io.x/one", "1.0.0", "a's one"), srv("io.x/two", "1.0.0", "a's two")))
			if err := first.merge(context.Background(), "both"); err != nil {
				t.Fatal(err)
			}
			f.waitGeneration(1)
			viewOf(f.write("a", srv("io.x/one", "1.0.0", "a's one, edited"), srv("io.x/two", "1.0.0", "a's two")))
			first.objects = killedObjects{ObjectStore: first.objects, afterPut: c.afterPut}
			if err := first.merge(context.Background(), "both"); err == nil {
				t.Fatal("the killed holder's merge went through")
			}

			// The next holder was told of no view before.
			next := f.manualMerger("replica-b", fl.Registry)
			for range 2 {
				if err := next.merge(context.Background(), "both"); err != nil {
					t.Fatal(err)
				}
			}
			got := f.waitGeneration(2)
			if got.Diff.UpdatedCount != 1 || got.Diff.Updated[0] != "io.x/one" || got.Diff.AddedCount+got.Diff.RemovedCount != 0 {
				t.Errorf("generation 2 diff %+v, want io.x/one updated alone", got.Diff)
			}
			st := f.status()
			info, err := f.srv.Handles.Registries.GetInfo(context.Background(), "both")
			if err != nil {
				t.Fatal(err)
			}
			if st.Generation != 2 || st.PendingEvent != nil || info.Metadata[events.MetaGeneration] != strconv.FormatUint(st.Generation, 10) ||
				info.Metadata[events.MetaViewDigest] != st.ViewDigest {
				t.Errorf("record of generation %d (pending %s), object of generation %s; want generation 2 recorded, announced and stored",
					st.Generation, st.PendingEvent, info.Metadata[events.MetaGeneration])
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.events) != 2 {
				t.Errorf("%d generations announced (%v), want 2", len(f.events), f.ids)
			}
		})
	}
}

// A replica that starts after a sync was killed between its records and
// its commit does not know what the replaced records held: its merger
// writes no generation of that partial view (it would announce the
// replaced entries as removed, then added again), and waits for the
// commit, whose generation names the change once.
func TestAMergerWaitsForTheCommitOfASourceStartUpFoundPartial(t *testing.T) {
	f := startMerger(t)
	first, fl := f.followedMerger("replica-a")
	one := f.write("a", srv("io.x/one", "1.0.0", "a's one"), srv("io.x/two", "1.0.0", "a's two"))
	f.awaitView(fl, one)
	if err := first.merge(context.Background(), "both"); err != nil {
		t.Fatal(err)
	}
	f.waitGeneration(1)

	// The killed sync's records, not committed: io.x/one replaced.
	lists, err := registry.SnapshotLists([]byte(`{"version":"1.0.0","meta":{"last_updated":"2025-01-01T00:00:00Z"},"data":{"servers":[` +
		srv("io.x/one", "1.0.0", "a's one, edited") + "," + srv("io.x/two", "1.0.0", "a's two") + `]}}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.writer.Prepare(context.Background(), "a", lists)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.writer.WriteRecords(context.Background(), b); err != nil {
		t.Fatal(err)
	}

	// The replica starts again: a follower and a merger told of nothing.
	var restarted *views.Follower
	next := f.manualMerger("replica-b", func(name string) *views.Registry { return restarted.Registry(name) })
	restarted = f.follower(next.Changed)
	testsupport.Eventually(t, "the restarted replica's views loaded", func() bool { return restarted.Registry("both") != nil })
	if err := next.merge(context.Background(), "both"); err != nil {
		t.Fatal(err)
	}
	if st := f.status(); st.Generation != 1 {
		t.Fatalf("generation %d recorded from the partial view, want none until the commit", st.Generation)
	}
	if _, err := f.writer.Commit(context.Background(), "a", nil, entries.Sync{ResultID: "r-a-killed", Revision: "rev-a"}); err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, "the commit applied", func() bool {
		v := restarted.Registry("both")
		return v.Sources[0].Commit.ResultID == "r-a-killed" && !v.Sources[0].Partial
	})
	if err := next.merge(context.Background(), "both"); err != nil {
		t.Fatal(err)
	}
	got := f.waitGeneration(2)
	if got.Diff.UpdatedCount != 1 || got.Diff.Updated[0] != "io.x/one" || got.Diff.AddedCount+got.Diff.RemovedCount != 0 {
		t.Errorf("generation 2 diff %+v, want io.x/one updated alone", got.Diff)
	}
}

// A holder killed after recording a generation and before storing its
// object, when the sources change again before the next holder takes
// over, leaves that holder neither the recorded view nor its object: the
// generation after is still diffed exactly, against the object of the
// generation before and the digests the record keeps of the pending
// generation's changed entries, not with every entry named as added.
func TestTheGenerationAfterOneKilledBeforeItsObjectIsDiffedExactly(t *testing.T) {
	f := startMerger(t)
	first, fl := f.followedMerger("replica-a")
	viewOf := func(result string) { f.awaitView(fl, result) }
	viewOf(f.write("a", srv("io.x/one", "1.0.0", "a's one"), srv("io.x/two", "1.0.0", "a's two"),
		srv("io.x/three", "1.0.0", "a's three"), srv("io.x/four", "1.0.0", "a's four")))
	if err := first.merge(context.Background(), "both"); err != nil {
		t.Fatal(err)
	}
	f.waitGeneration(1)
	// Generation 2 edits one, removes three and adds five.
	viewOf(f.write("a", srv("io.x/one", "1.0.0", "a's one, edited"), srv("io.x/two", "1.0.0", "a's two"),
		srv("io.x/four", "1.0.0", "a's four"), srv("io.x/five", "1.0.0", "a's five")))
	first.objects = killedObjects{ObjectStore: first.objects}
	if err := first.merge(context.Background(), "both"); err == nil {
		t.Fatal("the killed holder's merge went through")
	}
	if c := f.status().PendingChanges; c == nil || len(c.Entries) != 3 {
		t.Fatalf("pending changes %+v recorded with generation 2, want its three changed entries", c)
	}
	// The sources change again before the next holder takes over: one
	// goes back to generation 1's content, two is edited, five removed,
	// three added back, six added; four stays.
	viewOf(f.write("a", srv("io.x/one", "1.0.0", "a's one"), srv("io.x/two", "1.0.0", "a's two, edited"),
		srv("io.x/three", "1.0.0", "a's three"), srv("io.x/four", "1.0.0", "a's four"), srv("io.x/six", "1.0.0", "a's six")))

	// The next holder was told of no view before.
	next := f.manualMerger("replica-b", fl.Registry)
	if err := next.merge(context.Background(), "both"); err != nil {
		t.Fatal(err)
	}
	f.waitGeneration(2)
	got := f.waitGeneration(3)
	d := got.Diff
	if !slices.Equal(d.Added, []string{"io.x/six", "io.x/three"}) || !slices.Equal(d.Updated, []string{"io.x/one", "io.x/two"}) ||
		!slices.Equal(d.Removed, []string{"io.x/five"}) || d.AddedCount != 2 || d.UpdatedCount != 2 || d.RemovedCount != 1 {
		t.Errorf("generation 3 diff added %v updated %v removed %v (counts %d/%d/%d); want six and three added, one and two updated, five removed",
			d.Added, d.Updated, d.Removed, d.AddedCount, d.UpdatedCount, d.RemovedCount)
	}
	st := f.status()
	info, err := f.srv.Handles.Registries.GetInfo(context.Background(), "both")
	if err != nil {
		t.Fatal(err)
	}
	if st.Generation != 3 || st.PendingEvent != nil || st.PendingChanges != nil || info.Metadata[events.MetaGeneration] != "3" {
		t.Errorf("record of generation %d (pending %s), object of generation %s; want generation 3 recorded, announced and stored",
			st.Generation, st.PendingEvent, info.Metadata[events.MetaGeneration])
	}
}

// The changed entries a record keeps are every name of a generation's
// diff; a diff whose lists are cut keeps none, and the generation after
// one whose object was never stored falls back to naming every entry as
// added.
func TestPendingChangesAreKeptOnlyForACompleteDiff(t *testing.T) {
	viewOf := func(sources ...merge.Source) *views.Registry { return &views.Registry{Merged: merge.Merge(sources)} }
	entry := func(content string) []merge.Entry {
		data := []byte(`{"c":"` + content + `"}`)
		return []merge.Entry{{Version: "1.0.0", Digest: sha256.Sum256(data), Data: data}}
	}
	one, two := merge.Key{Kind: merge.Server, Name: "io.x/one"}, merge.Key{Kind: merge.Server, Name: "io.x/two"}
	before := viewOf(merge.Source{Name: "a", Entries: map[merge.Key][]merge.Entry{one: entry("1"), two: entry("2")}})
	after := viewOf(merge.Source{Name: "a", Entries: map[merge.Key][]merge.Entry{one: entry("1, edited")}})
	d := changeOf("both", before, after, 2).Diff
	c := changesOf(before, "base", after, d)
	want := []events.ChangedEntry{{Kind: "server", Name: "io.x/one", Source: "a", Digest: after.Merged.Get(one).Digest().String()},
		{Kind: "server", Name: "io.x/two"}}
	if c == nil || c.BaseViewDigest != "base" || !slices.Equal(c.Entries, want) {
		t.Errorf("pending changes %+v, want %+v over base", c, want)
	}
	cut := d
	cut.UpdatedCount++ // a name past the list
	if c := changesOf(before, "base", after, cut); c != nil {
		t.Errorf("pending changes %+v kept for a cut diff, want none", c)
	}
	if c := changesOf(nil, "", after, changeOf("both", nil, after, 1).Diff); c != nil {
		t.Errorf("pending changes %+v kept for a diff against no view, want none", c)
	}
}

// A registry record that does not fit with the changed entries it keeps
// leaves them out before anything the event says is cut.
func TestARecordTooLargeForItsPendingChangesLeavesThemOutFirst(t *testing.T) {
	names := make([]string, events.MaxDiffNames)
	c := &events.PendingChanges{BaseViewDigest: "base"}
	for i := range names {
		names[i] = "io.test/" + strconv.Itoa(i)
		c.Entries = append(c.Entries, events.ChangedEntry{Kind: "server", Name: names[i], Source: "a", Digest: strings.Repeat("d", 64)})
	}
	l := &ledger[*events.RegistryStatus]{source: "/test", recordLimit: 64 << 10, mode: events.Structured,
		pending: func(s *events.RegistryStatus) *json.RawMessage { return &s.PendingEvent },
		shrink:  shrinkRegistryStatus, spare: spareRegistryStatus}
	s := &events.RegistryStatus{Generation: 2, ViewDigest: "view", PendingChanges: c}
	data := events.RegistryChanged{Registry: "both", Reason: events.RegistryReasonSourceChanged, Generation: 2, PreviousGeneration: 1,
		Diff: events.RegistryDiff{ViewDiff: events.ViewDiff{Diff: events.DiffOf(nil, names, nil)}}, ServerCount: len(names), ViewDigest: "view"}
	ev, _, _, err := l.seal(context.Background(), s, "g-both-e-2", data)
	if err != nil {
		t.Fatal(err)
	}
	if s.PendingChanges != nil {
		t.Errorf("the record kept %d pending changes over its limit", len(s.PendingChanges.Entries))
	}
	d, err := events.DataOf(ev)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.(events.RegistryChanged).Diff.Updated; len(got) != len(names) {
		t.Errorf("the event names %d of %d updated entries, want all", len(got), len(names))
	}
}

// Pending changes are read from a bucket anyone with write access can
// change: a record whose entries name an unknown kind or hold a digest
// that is not one is not used (the generation after is diffed as when the
// record keeps none), and nothing else is read for it.
func TestMalformedPendingChangesAreNotUsed(t *testing.T) {
	m := &Merger{log: slog.New(slog.DiscardHandler)}
	digest := strings.Repeat("ab", sha256.Size)
	for name, e := range map[string]events.ChangedEntry{
		"unknown kind":       {Kind: "widget", Name: "io.x/one", Source: "a", Digest: digest},
		"digest not hex":     {Kind: "server", Name: "io.x/one", Source: "a", Digest: strings.Repeat("zz", sha256.Size)},
		"digest too short":   {Kind: "server", Name: "io.x/one", Source: "a", Digest: "abcd"},
		"digest too long":    {Kind: "server", Name: "io.x/one", Source: "a", Digest: digest + "00"},
		"empty kind removed": {Kind: "", Name: "io.x/one"},
	} {
		t.Run(name, func(t *testing.T) {
			rec := &events.RegistryStatus{Generation: 3,
				PendingChanges: &events.PendingChanges{BaseViewDigest: digest, Entries: []events.ChangedEntry{e}}}
			v, err := m.rebuiltView(context.Background(), "both", nil, rec)
			if v != nil || err != nil {
				t.Errorf("rebuilt view %v, %v from %+v; want none", v, err, e)
			}
		})
	}
}
