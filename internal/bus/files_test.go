package bus

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/regsync/regsync/internal/testsupport"
)

// An NKey seed file is read through bounded and signs the server's
// challenge; a server that does not know the key refuses it.
func TestConnectWithNKeySeedFile(t *testing.T) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	pub, _ := kp.PublicKey()
	seedFile := filepath.Join(t.TempDir(), "user.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	other, _ := nkeys.CreateUser()
	otherPub, _ := other.PublicKey()
	for name, tc := range map[string]struct {
		known string
		ok    bool
	}{"known key": {pub, true}, "unknown key": {otherPub, false}} {
		t.Run(name, func(t *testing.T) {
			srv := testsupport.NATS(t, server.Options{Nkeys: []*server.NkeyUser{{Nkey: tc.known}}})
			nc, err := Connect(ConnectOptions{URL: srv.ClientURL(), NKeyFile: seedFile})
			if err == nil {
				nc.Close()
			}
			if (err == nil) != tc.ok || err != nil && !IsAuthError(err) {
				t.Errorf("Connect: %v, want ok %v", err, tc.ok)
			}
		})
	}
}
