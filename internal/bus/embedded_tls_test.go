package bus

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/regsync/regsync/internal/testsupport"
)

// With a certificate the embedded listener requires TLS, so the password
// never crosses the network in clear; with a CA it also requires client
// certificates signed by it. In-process connections need neither.
func TestEmbeddedTLS(t *testing.T) {
	pki := testsupport.NewPKI(t)
	const user, password = EmbeddedUser, "a-password-of-enough-length"
	start := func(t *testing.T, ca string) *Embedded {
		t.Helper()
		emb, err := StartEmbedded(EmbeddedOptions{
			StoreDir: filepath.Join(t.TempDir(), "js"), Listen: "127.0.0.1:0", User: user, Password: password,
			CertFile: pki.ServerCert, KeyFile: pki.ServerKey, CAFile: ca,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(emb.Shutdown)
		return emb
	}
	connects := func(t *testing.T, o ConnectOptions) bool {
		t.Helper()
		o.User, o.Password = user, password
		nc, err := Connect(o)
		if err != nil {
			return false
		}
		nc.Close()
		return true
	}

	t.Run("server certificate", func(t *testing.T) {
		emb := start(t, "")
		if !connects(t, ConnectOptions{URL: emb.ClientURL(), CAFile: pki.CA}) {
			t.Error("a TLS client with the CA cannot connect")
		}
		if connects(t, ConnectOptions{URL: emb.ClientURL()}) {
			t.Error("a client without TLS connected")
		}
		if !connects(t, ConnectOptions{Embedded: emb}) {
			t.Error("the in-process connection needs TLS")
		}
	})
	t.Run("client certificates", func(t *testing.T) {
		emb := start(t, pki.CA)
		if !connects(t, ConnectOptions{URL: emb.ClientURL(), CAFile: pki.CA, CertFile: pki.ClientCert, KeyFile: pki.ClientKey}) {
			t.Error("a client with a certificate of the CA cannot connect")
		}
		if connects(t, ConnectOptions{URL: emb.ClientURL(), CAFile: pki.CA}) {
			t.Error("a client without a certificate connected")
		}
		if !connects(t, ConnectOptions{Embedded: emb}) {
			t.Error("the in-process connection needs a client certificate")
		}
	})
	t.Run("bad files are named", func(t *testing.T) {
		_, err := StartEmbedded(EmbeddedOptions{StoreDir: filepath.Join(t.TempDir(), "js"), Listen: "127.0.0.1:0", CertFile: pki.ServerCert, KeyFile: pki.CA})
		if err == nil {
			t.Fatal("started with a CA certificate as its key")
		}
		if want := "load certificate " + pki.ServerCert; !strings.Contains(err.Error(), want) {
			t.Errorf("err %v, want %q", err, want)
		}
	})
}
