package bus

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

// The embedded server keeps no cache of subject matches: regsync publishes
// to subjects of every source (results, records, objects), more distinct
// subjects than the cache holds, and every object stored subscribes and
// unsubscribes a reply subject (nats.go makes one per object store Put),
// each of which the server would check against every cached subject.
func TestTheEmbeddedServerKeepsNoSubjectMatchCache(t *testing.T) {
	emb, err := StartEmbedded(EmbeddedOptions{StoreDir: filepath.Join(t.TempDir(), "js")})
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Shutdown()
	nc, err := Connect(ConnectOptions{Embedded: emb})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("regsync.result.>")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	for i := range 20 {
		if err := nc.Publish(fmt.Sprintf("regsync.result.s%02d.completed", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	subsz, err := emb.Server().Subsz(&server.SubszOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if subsz.NumCache != 0 {
		t.Errorf("the server caches %d subject matches, want none", subsz.NumCache)
	}
}
