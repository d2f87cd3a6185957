package bus

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/testsupport"
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
		entries, err := js.KeyValue(ctx, events.BucketEntries)
		if err != nil {
			t.Fatal(err)
		}
		est, _ := entries.Status(ctx)
		if est.History() != 1 || est.LimitMarkerTTL() <= 0 {
			t.Errorf("entries bucket: history %d, limit marker TTL %v; want 1 and a TTL, so tombstones expire", est.History(), est.LimitMarkerTTL())
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

// Logged connection options say which credentials are set, never what
// they are, in the URL or beside it.
func TestConnectOptionsRedactSecrets(t *testing.T) {
	o := ConnectOptions{
		URL:      "nats://bob:url-secret@nats-a:4222,nats://nats-b:4222",
		User:     "alice",
		Password: "password-secret",
		Token:    "token-secret",
	}
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("connecting", "nats", o)
	got := logs.String()
	for _, secret := range []string{"url-secret", "bob:", "password-secret", "token-secret"} {
		if strings.Contains(got, secret) {
			t.Errorf("%q is in the log: %s", secret, got)
		}
	}
	for _, want := range []string{"nats.url=nats://nats-a:4222,nats://nats-b:4222", "nats.user=true", "nats.token=true", "nats.creds=false"} {
		if !strings.Contains(got, want) {
			t.Errorf("the log does not say %s: %s", want, got)
		}
	}
}

// The embedded server with a password refuses clients without it, on the
// listener and in process, and says the failure is about authentication.
func TestEmbeddedRequiresPassword(t *testing.T) {
	emb, err := StartEmbedded(EmbeddedOptions{StoreDir: filepath.Join(t.TempDir(), "js"), Listen: "127.0.0.1:0", User: EmbeddedUser, Password: "right-password"})
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Shutdown()
	cases := []struct {
		name   string
		opts   ConnectOptions
		wantOK bool
	}{
		{"no credentials on the listener", ConnectOptions{URL: emb.ClientURL()}, false},
		{"wrong password on the listener", ConnectOptions{URL: emb.ClientURL(), User: EmbeddedUser, Password: "wrong-password"}, false},
		{"the password on the listener", ConnectOptions{URL: emb.ClientURL(), User: EmbeddedUser, Password: "right-password"}, true},
		{"the password in process", ConnectOptions{Embedded: emb, User: EmbeddedUser, Password: "right-password"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := Connect(tc.opts)
			if tc.wantOK {
				if err != nil {
					t.Fatal(err)
				}
				nc.Close()
				return
			}
			if err == nil {
				nc.Close()
				t.Fatal("connected without the password")
			}
			if !IsAuthError(err) || !strings.Contains(err.Error(), "authentication failed") || strings.Contains(err.Error(), "wrong-password") {
				t.Errorf("err %v, want an authentication error that does not quote the password", err)
			}
		})
	}
}

// Connection errors say which kind they are, and never quote credentials
// given in the URL.
func TestConnectErrorKinds(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	emb, err := StartEmbedded(EmbeddedOptions{StoreDir: filepath.Join(t.TempDir(), "js"), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Shutdown()
	caFile := testsupport.NewPKI(t).CA
	cases := []struct {
		name string
		opts ConnectOptions
		is   func(error) bool
		want string
	}{
		{"nothing listening", ConnectOptions{URL: "nats://bob:hunter2-secret@" + closed}, IsUnreachable, "server unreachable"},
		{"TLS wanted, server without TLS", ConnectOptions{URL: emb.ClientURL(), CAFile: caFile}, IsTLSError, "TLS failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := Connect(tc.opts)
			if err == nil {
				nc.Close()
				t.Fatal("connected")
			}
			if !tc.is(err) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "hunter2-secret") {
				t.Errorf("err %v, want %q without credentials", err, tc.want)
			}
		})
	}
}

func TestPasswordFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "nats-password")
	pw, err := EnsurePassword(path)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", info.Mode().Perm())
	}
	if len(pw) < 20 {
		t.Errorf("password %q is short", pw)
	}
	again, err := EnsurePassword(path)
	if err != nil || again != pw {
		t.Errorf("second start: %q %v, want the same password", again, err)
	}
	if got, err := ReadPassword(path); err != nil || got != pw {
		t.Errorf("ReadPassword: %q %v", got, err)
	}
}

// A password file that holds no password is refused with the reason; the
// file is named the same in every case, so only the reason can match.
func TestReadPasswordRefusesBadFiles(t *testing.T) {
	cases := []struct {
		name    string
		prepare func(path string) error
		want    string
	}{
		{"missing", func(string) error { return nil }, "no such file"},
		{"only a newline", func(p string) error { return os.WriteFile(p, []byte("\n"), 0o600) }, "the file is empty"},
		{"a directory", func(p string) error { return os.Mkdir(p, 0o700) }, "is a directory"},
		{"too large", func(p string) error { return os.WriteFile(p, make([]byte, maxPasswordSize+1), 0o600) }, "not a password"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "nats-password")
			if err := tc.prepare(path); err != nil {
				t.Fatal(err)
			}
			if _, err := ReadPassword(path); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// A URL that does not parse (a raw base64 password with a "/") is never
// echoed, and neither is url.Parse's error, which quotes a part of it.
func TestConnectUnparsableURLIsNotEchoed(t *testing.T) {
	for _, raw := range []string{
		"nats://regsync:ab/cd+ef==@127.0.0.1:4222",
		"nats://regsync:ab?cd+ef==@127.0.0.1:4222",
		"nats://regsync:ab cd+ef==@127.0.0.1:4222",
	} {
		t.Run(raw, func(t *testing.T) {
			nc, err := Connect(ConnectOptions{URL: raw})
			if err == nil {
				nc.Close()
				t.Fatal("connected")
			}
			if msg := err.Error(); strings.Contains(msg, "ab") || strings.Contains(msg, "cd+ef") || !strings.Contains(msg, "not a valid URL") {
				t.Errorf("err %q, want it to say the URL is not valid without quoting it", msg)
			}
		})
	}
}

func TestInboxPrefix(t *testing.T) {
	for _, tt := range []struct{ user, want string }{
		{"", "_INBOX_regsync"},
		{"regsync", "_INBOX_regsync"},
		{"reader", "_INBOX_reader"},
		{"team.a *x>", "_INBOX_team_a__x_"},
	} {
		if got := InboxPrefix(tt.user); got != tt.want {
			t.Errorf("InboxPrefix(%q) = %q, want %q", tt.user, got, tt.want)
		}
	}
}
