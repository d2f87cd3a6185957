package main

import (
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/internal/bus"
)

// defaultClientURL is the embedded server's loopback listener.
const defaultClientURL = "nats://127.0.0.1:4222"

// connectClient connects a client command (sync, status, watch) to the
// NATS that the service uses.
func (g *globals) connectClient() (*nats.Conn, jetstream.JetStream, error) {
	url := g.natsURL
	if url == "" {
		url = defaultClientURL
	}
	nc, err := bus.Connect(bus.ConnectOptions{
		URL: url, Name: "regsync-cli",
		CredsFile: g.creds, User: g.user, Password: g.password, Token: g.token, NKeyFile: g.nkey,
		CAFile: g.ca, CertFile: g.cert, KeyFile: g.key,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("%w (is `regsync serve` running? set --nats-url or REGSYNC_NATS_URL)", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	return nc, js, nil
}
