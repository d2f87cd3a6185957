package entries

import (
	"testing"
	"time"

	"github.com/regsync/regsync/events"
)

// A sync after the store's own reads the commit marker and the last
// record's sequence of the source, and nothing more: the bucket's stream
// is described once, not again at every sync.
func TestASyncAfterTheStoresOwnAsksOnlyForTheMarkerAndTheLastRecord(t *testing.T) {
	f := start(t)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := f.store(&at)
	write(t, s, "src", snapshot(servers(3)), "rev-1")

	nc := f.js.Conn()
	infos, err := nc.SubscribeSync("$JS.API.STREAM.INFO.KV_" + events.BucketEntries)
	if err != nil {
		t.Fatal(err)
	}
	watches, err := nc.SubscribeSync("$JS.API.CONSUMER.CREATE.KV_" + events.BucketEntries + ".>")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		write(t, s, "src", snapshot(append(servers(3), server("io.example/new", "1.0.0", string(rune('a'+i))))), "rev-2")
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := infos.Pending(); n > 1 {
		t.Errorf("the stream of %s was described %d times in 3 syncs, want once at most", events.BucketEntries, n)
	}
	if n, _, _ := watches.Pending(); n != 0 {
		t.Errorf("the records were watched %d times in 3 syncs, want none", n)
	}
}
