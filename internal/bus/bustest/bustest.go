// Package bustest starts an embedded nats-server with regsync's streams,
// buckets and object store for tests, with its storage in a temporary
// directory that is removed when the test ends.
package bustest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/internal/bus"
	"github.com/regsync/regsync/internal/config"
)

// Server is a running embedded server and one connection to it.
type Server struct {
	Embedded *bus.Embedded
	Conn     *nats.Conn
	JS       jetstream.JetStream
	Handles  *bus.Handles
}

// Start starts a server whose leases live leaseTTL (0: sync.leaseTTL's
// default).
func Start(tb testing.TB, leaseTTL time.Duration) *Server {
	tb.Helper()
	if leaseTTL <= 0 {
		leaseTTL = time.Duration(config.Default().Sync.LeaseTTL)
	}
	emb, err := bus.StartEmbedded(bus.EmbeddedOptions{StoreDir: filepath.Join(tb.TempDir(), "jetstream")})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(emb.Shutdown)
	nc, err := bus.Connect(bus.ConnectOptions{Embedded: emb, Name: tb.Name()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	h, err := bus.Ensure(context.Background(), js, bus.Resources{Replicas: 1, LeaseTTL: leaseTTL})
	if err != nil {
		tb.Fatal(err)
	}
	return &Server{Embedded: emb, Conn: nc, JS: js, Handles: h}
}
