package bus

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/internal/jserr"
	"github.com/regsync/regsync/internal/testsupport"
)

// A server without JetStream never answers the JetStream API: Ensure says
// so at once instead of being retried for ever as a cluster still forming.
func TestEnsureOnAServerWithoutJetStream(t *testing.T) {
	ns := testsupport.NATS(t, server.Options{})
	nc, err := Connect(ConnectOptions{URL: ns.ClientURL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Ensure(context.Background(), js, Resources{Replicas: 1, LeaseTTL: 5 * time.Second, Results: week})
	if !errors.Is(err, jserr.ErrNoJetStream) {
		t.Fatalf("Ensure() = %v, want ErrNoJetStream", err)
	}
	if !strings.Contains(err.Error(), "JetStream is not enabled on this server") {
		t.Errorf("err %q does not say that JetStream is not enabled", err)
	}
	if jserr.Temporary(err) {
		t.Errorf("Temporary(%v) = true: it would be retried for ever", err)
	}
}
