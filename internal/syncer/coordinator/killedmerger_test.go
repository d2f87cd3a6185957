package coordinator

import (
	"context"
	"errors"
	"io"
	"strconv"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/registry/views"
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
			var fl *views.Follower
			first := f.manualMerger("replica-a", func(name string) *views.Registry { return fl.Registry(name) })
			fl = f.follower(first.Changed)
			viewOf := func(result string) {
				testsupport.Eventually(t, "the view of "+result, func() bool {
					v := fl.Registry("both")
					return v != nil && v.Sources[0].Commit.ResultID == result
				})
			}
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
