package testsupport

import (
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

// NATS starts a nats-server with opts for a test, on a free loopback port
// unless opts names one, without signal handlers or logs, and shuts it
// down when the test ends.
func NATS(tb testing.TB, opts server.Options) *server.Server {
	tb.Helper()
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if opts.Port == 0 {
		opts.Port = server.RANDOM_PORT
	}
	opts.NoSigs, opts.NoLog = true, true
	ns, err := server.NewServer(&opts)
	if err != nil {
		tb.Fatal(err)
	}
	go ns.Start()
	tb.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(Patience) {
		tb.Fatal("nats-server not ready")
	}
	return ns
}
