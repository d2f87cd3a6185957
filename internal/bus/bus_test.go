package bus

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
)

func TestEmbeddedWithListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	emb, err := StartEmbedded(EmbeddedOptions{StoreDir: filepath.Join(t.TempDir(), "js"), Listen: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Shutdown()
	if emb.ClientURL() != "nats://"+addr {
		t.Errorf("client url %q, want nats://%s", emb.ClientURL(), addr)
	}
	nc, err := Connect(ConnectOptions{URL: emb.ClientURL()})
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()

	t.Run("a second server on the same address fails clearly", func(t *testing.T) {
		_, err := StartEmbedded(EmbeddedOptions{StoreDir: filepath.Join(t.TempDir(), "js"), Listen: addr})
		if err == nil {
			t.Fatal("two servers on one address")
		}
	})
}

func TestEmbeddedWithoutListener(t *testing.T) {
	emb, err := StartEmbedded(EmbeddedOptions{StoreDir: filepath.Join(t.TempDir(), "js")})
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Shutdown()
	if emb.ClientURL() != "" {
		t.Errorf("client url %q without a listener", emb.ClientURL())
	}
	nc, err := Connect(ConnectOptions{Embedded: emb})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()

	t.Run("ensure is idempotent", func(t *testing.T) {
		for range 2 {
			if _, err := Ensure(ctx, js, Resources{Replicas: 1, LeaseTTL: 5 * time.Second}); err != nil {
				t.Fatal(err)
			}
		}
		for _, name := range []string{events.StreamTriggers, events.StreamResults} {
			if _, err := js.Stream(ctx, name); err != nil {
				t.Errorf("stream %s: %v", name, err)
			}
		}
		locks, err := js.KeyValue(ctx, events.BucketLocks)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := locks.Status(ctx)
		if st.TTL() != 5*time.Second {
			t.Errorf("lease TTL %v", st.TTL())
		}
		if _, err := js.ObjectStore(ctx, events.ObjectStoreData); err != nil {
			t.Error(err)
		}
	})
	t.Run("duplicate trigger ids collapse", func(t *testing.T) {
		for range 2 {
			msg := events.TriggerSubject("dup")
			if _, err := js.Publish(ctx, msg, []byte("x"), jetstream.WithMsgID("same-id")); err != nil {
				t.Fatal(err)
			}
		}
		info, _ := js.Stream(ctx, events.StreamTriggers)
		if n := info.CachedInfo().State.Msgs; n != 1 {
			t.Errorf("%d messages, want 1", n)
		}
	})
}

func TestBadListenAddress(t *testing.T) {
	_, err := StartEmbedded(EmbeddedOptions{StoreDir: t.TempDir(), Listen: "nonsense"})
	if err == nil || !strings.Contains(err.Error(), "nonsense") {
		t.Errorf("err %v", err)
	}
}

func TestConnectOptionsRedactSecrets(t *testing.T) {
	o := ConnectOptions{URL: "nats://x", Password: "hunter2", Token: "tok"}
	if s := o.LogValue().String(); strings.Contains(s, "hunter2") || strings.Contains(s, "tok]") {
		t.Errorf("secrets in %s", s)
	}
}
