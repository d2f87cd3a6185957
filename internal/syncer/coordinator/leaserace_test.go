package coordinator

import (
	"context"
	"errors"
	"io"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/bus"
	"github.com/regsync/regsync/internal/registry/views"
	"github.com/regsync/regsync/internal/syncer/state"
	"github.com/regsync/regsync/internal/testsupport"
)

// pausedObjects holds the first Put of an object (GetInfo when atInfo)
// until resume is closed, as a holder paused (by GC, a starved CPU) right
// before it stores (or looks at) the object.
type pausedObjects struct {
	jetstream.ObjectStore
	atInfo          bool
	once            sync.Once
	reached, resume chan struct{}
}

func newPausedObjects(objects jetstream.ObjectStore, atInfo bool) *pausedObjects {
	return &pausedObjects{ObjectStore: objects, atInfo: atInfo, reached: make(chan struct{}), resume: make(chan struct{})}
}

// pause waits for resume the first time; the request is then sent with a
// bound of its own, as the pause took up the caller's.
func (p *pausedObjects) pause(ctx context.Context) (context.Context, context.CancelFunc) {
	paused := false
	p.once.Do(func() {
		close(p.reached)
		<-p.resume
		paused = true
	})
	if !paused {
		return ctx, func() {}
	}
	return context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
}

func (p *pausedObjects) Put(ctx context.Context, meta jetstream.ObjectMeta, r io.Reader) (*jetstream.ObjectInfo, error) {
	if !p.atInfo {
		var cancel context.CancelFunc
		ctx, cancel = p.pause(ctx)
		defer cancel()
	}
	return p.ObjectStore.Put(ctx, meta, r)
}

func (p *pausedObjects) GetInfo(ctx context.Context, name string, opts ...jetstream.GetObjectInfoOpt) (*jetstream.ObjectInfo, error) {
	if p.atInfo {
		var cancel context.CancelFunc
		ctx, cancel = p.pause(ctx)
		defer cancel()
	}
	return p.ObjectStore.GetInfo(ctx, name, opts...)
}

// pausedRecords holds the first Update of a registry's status record
// until resume is closed, as a holder paused right before it records a
// generation.
type pausedRecords struct {
	jetstream.KeyValue
	p *pausedObjects
}

func (r pausedRecords) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	ctx, cancel := r.p.pause(ctx)
	defer cancel()
	return r.KeyValue.Update(ctx, key, value, rev)
}

// manualMerger is a merger of replica holder that the test drives by
// calling merge itself.
func (f *mergerFixture) manualMerger(holder string, view func(string) *views.Registry) *Merger {
	f.t.Helper()
	h := f.srv.Handles
	m := NewMerger(h, MergerOptions{Leases: NewLeases(h.Locks, holder, 2*time.Second), Views: view,
		LeaseTTL: 2 * time.Second, Logger: testsupport.Logger(f.t)}, mergerRegistries)
	limit, err := bus.ValueLimit(context.Background(), h.RegistryStatus, h.JS.Conn())
	if err != nil {
		f.t.Fatal(err)
	}
	m.ledger.recordLimit = limit
	return m
}

// followedMerger is a merger of holder run by hand (manualMerger) and a
// follower of the fixture's registries whose views it merges and is told
// of.
func (f *mergerFixture) followedMerger(holder string) (*Merger, *views.Follower) {
	f.t.Helper()
	var fl *views.Follower
	m := f.manualMerger(holder, func(name string) *views.Registry { return fl.Registry(name) })
	fl = f.follower(m.Changed)
	return m, fl
}

// awaitView waits until fl's view of registry "both" holds the sync whose
// result is given.
func (f *mergerFixture) awaitView(fl *views.Follower, result string) {
	f.t.Helper()
	testsupport.Eventually(f.t, "the view of "+result, func() bool {
		v := fl.Registry("both")
		return v != nil && v.Sources[0].Commit.ResultID == result
	})
}

// follower runs a views.Follower of the fixture's registries that tells
// onChange of every view.
func (f *mergerFixture) follower(onChange func(string, *views.Registry)) *views.Follower {
	f.t.Helper()
	fl := views.New(f.srv.Handles.Entries, mergerRegistries, nil, testsupport.Logger(f.t))
	fl.OnChange(onChange)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fl.Run(ctx) }()
	f.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			f.t.Error(err)
		}
	})
	return fl
}

// A holder whose lease expired while it was paused mid-merge (it had read
// the record of generation 1 and was about to record generation 2)
// resumes after another holder recorded generation 2. It must not record
// a generation computed from its stale read (a view older than the one
// recorded, a diff against generation 1), and the object stored must be
// the recorded generation's after its next merge.
func TestAHolderWhoseLeaseExpiredMidMergeDoesNotOverwriteANewerGeneration(t *testing.T) {
	f := startMerger(t)
	var fl *views.Follower
	b := f.manualMerger("replica-b", func(name string) *views.Registry { return fl.Registry(name) })
	var changes sync.Mutex
	var seenByA []*views.Registry
	fl = f.follower(func(name string, v *views.Registry) {
		b.Changed(name, v)
		changes.Lock()
		seenByA = append(seenByA, v)
		changes.Unlock()
	})
	var aView func(string) *views.Registry
	var aMu sync.Mutex
	a := f.manualMerger("replica-a", func(name string) *views.Registry {
		aMu.Lock()
		defer aMu.Unlock()
		return aView(name)
	})
	paused := newPausedObjects(nil, false)
	a.status.kv = pausedRecords{KeyValue: a.status.kv, p: paused}
	viewOf := func(result string) *views.Registry {
		var v *views.Registry
		testsupport.Eventually(t, "the view of "+result, func() bool {
			v = fl.Registry("both")
			return v != nil && v.Sources[0].Commit.ResultID == result
		})
		return v
	}

	viewOf(f.write("a", srv("io.x/one", "1.0.0", "a's one")))
	if err := b.merge(context.Background(), "both"); err != nil {
		t.Fatal(err)
	}
	f.waitGeneration(1)
	second := viewOf(f.write("a", srv("io.x/one", "1.1.0", "a's one")))
	// A follows the views as every replica does, and holds the second.
	changes.Lock()
	for _, v := range seenByA {
		a.Changed("both", v)
	}
	changes.Unlock()
	aMu.Lock()
	aView = func(string) *views.Registry { return second }
	aMu.Unlock()

	aDone := make(chan error, 1)
	go func() { aDone <- a.merge(context.Background(), "both") }()
	<-paused.reached
	// A read the record of generation 1 and holds the lease; it is paused
	// before recording generation 2 until its lease expires.
	if err := f.srv.Handles.Locks.Delete(context.Background(), registryLeasePrefix+"both"); err != nil {
		t.Fatal(err)
	}
	third := viewOf(f.write("a", srv("io.x/one", "1.2.0", "a's one")))
	if err := b.merge(context.Background(), "both"); err != nil {
		t.Fatal(err)
	}
	recorded := f.waitGeneration(2)
	if recorded.ViewDigest != third.Merged.Digest().String() {
		t.Fatalf("generation 2 is view %s, want the third view %s", recorded.ViewDigest, third.Merged.Digest())
	}
	close(paused.resume)
	aErr := <-aDone

	st := f.status()
	if st.Generation != 2 || st.ViewDigest != third.Merged.Digest().String() {
		t.Fatalf("after the paused holder resumed: generation %d view %s (merge: %v), want generation 2 of the third view %s",
			st.Generation, st.ViewDigest, aErr, third.Merged.Digest())
	}
	if !errors.Is(aErr, errRecordMoved) {
		t.Fatalf("the paused holder's merge: %v, want it refused as computed from a record since moved on", aErr)
	}
	f.mu.Lock()
	announced := len(f.events)
	f.mu.Unlock()
	if announced != 2 {
		t.Fatalf("%d registry.changed events, want one for each of generations 1 and 2", announced)
	}

	// A merges again at once; its follower has caught up with the third
	// view meanwhile. The object it overwrote is the record's again.
	aMu.Lock()
	aView = func(string) *views.Registry { return third }
	aMu.Unlock()
	if err := a.merge(context.Background(), "both"); err != nil {
		t.Fatal(err)
	}
	info, err := f.srv.Handles.Registries.GetInfo(context.Background(), "both")
	if err != nil {
		t.Fatal(err)
	}
	if info.Metadata[events.MetaGeneration] != strconv.FormatUint(st.Generation, 10) || info.Metadata[events.MetaViewDigest] != st.ViewDigest {
		t.Fatalf("object of generation %s view %s, want the recorded generation %d view %s",
			info.Metadata[events.MetaGeneration], info.Metadata[events.MetaViewDigest], st.Generation, st.ViewDigest)
	}
}

// A holder paused while it writes only the sources' phases of a recorded
// view (it read generation 1) resumes after the next holder recorded
// generation 2. It must not write generation 1's sources into the record
// of generation 2, nor leave generation 1's object under it.
func TestAHolderWhoseLeaseExpiredMidMergeDoesNotWriteStaleSources(t *testing.T) {
	f := startMerger(t)
	var fl *views.Follower
	b := f.manualMerger("replica-b", func(name string) *views.Registry { return fl.Registry(name) })
	fl = f.follower(b.Changed)
	var aView *views.Registry
	var aMu sync.Mutex
	a := f.manualMerger("replica-a", func(string) *views.Registry {
		aMu.Lock()
		defer aMu.Unlock()
		return aView
	})
	paused := newPausedObjects(a.objects, true)
	a.objects = paused
	viewOf := func(result string) *views.Registry {
		var v *views.Registry
		testsupport.Eventually(t, "the view of "+result, func() bool {
			v = fl.Registry("both")
			return v != nil && v.Sources[0].Commit.ResultID == result
		})
		return v
	}

	first := viewOf(f.write("a", srv("io.x/one", "1.0.0", "a's one")))
	if err := b.merge(context.Background(), "both"); err != nil {
		t.Fatal(err)
	}
	f.waitGeneration(1)
	// A sees source a fail: only the record's sources change.
	a.noteStatus("a", &state.Status{Phase: events.PhaseFailed})
	aMu.Lock()
	aView = first
	aMu.Unlock()
	aDone := make(chan error, 1)
	go func() { aDone <- a.merge(context.Background(), "both") }()
	<-paused.reached
	if err := f.srv.Handles.Locks.Delete(context.Background(), registryLeasePrefix+"both"); err != nil {
		t.Fatal(err)
	}
	second := viewOf(f.write("a", srv("io.x/one", "1.1.0", "a's one")))
	if err := b.merge(context.Background(), "both"); err != nil {
		t.Fatal(err)
	}
	f.waitGeneration(2)
	recorded := f.status()
	close(paused.resume)
	aErr := <-aDone

	st := f.status()
	if st.Generation != 2 || !slices.EqualFunc(st.Sources, recorded.Sources, sameSource) {
		t.Fatalf("after the paused holder resumed: generation %d sources %+v (merge: %v), want generation 2 with sources %+v",
			st.Generation, st.Sources, aErr, recorded.Sources)
	}
	if !errors.Is(aErr, errRecordMoved) {
		t.Fatalf("the paused holder's merge: %v, want it refused as computed from a record since moved on", aErr)
	}
	// Its next merge, its follower caught up, leaves the record's object.
	aMu.Lock()
	aView = second
	aMu.Unlock()
	if err := a.merge(context.Background(), "both"); err != nil {
		t.Fatal(err)
	}
	info, err := f.srv.Handles.Registries.GetInfo(context.Background(), "both")
	if err != nil {
		t.Fatal(err)
	}
	st = f.status()
	if info.Metadata[events.MetaGeneration] != strconv.FormatUint(st.Generation, 10) || info.Metadata[events.MetaViewDigest] != st.ViewDigest {
		t.Fatalf("object of generation %s view %s, want the recorded generation %d view %s",
			info.Metadata[events.MetaGeneration], info.Metadata[events.MetaViewDigest], st.Generation, st.ViewDigest)
	}
}
