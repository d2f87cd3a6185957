package views

import (
	"context"
	"testing"
	"time"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/registry"
	"github.com/regsync/regsync/internal/syncer/entries"
	"github.com/regsync/regsync/internal/testsupport"
)

// A replica's entries store that the follower keeps current prepares the
// sync of a source that another replica synced last from what the
// follower read, without watching the source's records again, and
// prepares what a store that reads them all would.
func TestAStoreKeptByTheFollowerDoesNotReadAnotherReplicasRecordsAgain(t *testing.T) {
	f := start(t)
	f.write("a", snapshot(server("io.x/one", "1.0.0", "v1"), server("io.x/two", "1.0.0", "v1")))
	other := entries.New(f.js, f.kv, time.Hour) // the store of another replica
	f.keep = other
	fl := f.follow()

	watches, err := f.js.Conn().SubscribeSync("$JS.API.CONSUMER.CREATE.KV_" + events.BucketEntries + ".>")
	if err != nil {
		t.Fatal(err)
	}
	prepare := func(t *testing.T, snap []byte) *entries.Batch {
		t.Helper()
		lists, err := registry.SnapshotLists(snap)
		if err != nil {
			t.Fatal(err)
		}
		want, err := entries.New(f.js, f.kv, time.Hour).Prepare(context.Background(), "a", lists)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.js.Conn().Flush(); err != nil {
			t.Fatal(err)
		}
		before, _, _ := watches.Pending()
		b, err := other.Prepare(context.Background(), "a", lists)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.js.Conn().Flush(); err != nil {
			t.Fatal(err)
		}
		if n, _, _ := watches.Pending(); n != before {
			t.Errorf("the records of a were watched again (%d consumers made)", n-before)
		}
		if b.Changed() != want.Changed() {
			t.Errorf("the kept store writes %d records, a store that read them all %d", b.Changed(), want.Changed())
		}
		return b
	}

	t.Run("what start-up read", func(t *testing.T) {
		f.write("a", snapshot(server("io.x/one", "1.0.0", "v2"), server("io.x/two", "1.0.0", "v1")))
		testsupport.Eventually(t, "the edit applied", func() bool { return fl.appliedOf("a") == 1 })
		b := prepare(t, snapshot(server("io.x/one", "1.0.0", "v2"), server("io.x/two", "1.0.0", "v2")))
		if _, err := other.Write(context.Background(), b, entries.Sync{Revision: "r"}); err != nil {
			t.Fatal(err)
		}
		testsupport.Eventually(t, "the other replica's edit applied", func() bool { return fl.appliedOf("a") == 2 })
	})
	t.Run("what each commit changed", func(t *testing.T) {
		f.write("a", snapshot(server("io.x/one", "1.0.0", "v3"), server("io.x/two", "1.0.0", "v2")))
		testsupport.Eventually(t, "the edit applied", func() bool { return fl.appliedOf("a") == 3 })
		prepare(t, snapshot(server("io.x/two", "1.0.0", "v2")))
	})
}
