package deploy

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/conf"
	"github.com/nats-io/nats-server/v2/server"
	"go.yaml.in/yaml/v3"
)

// natsEnv is the environment the NATS configurations read their secrets
// and server name from.
var natsEnv = map[string]string{
	"NATS_SERVER_NAME": "nats-0",
	"REGSYNC_PASSWORD": "regsync-pw",
	"READER_PASSWORD":  "reader-pw",
	"SYS_PASSWORD":     "sys-pw",
}

func setNATSEnv(t *testing.T) {
	t.Helper()
	for k, v := range natsEnv {
		t.Setenv(k, v)
	}
}

// writeCerts writes a CA and a server certificate signed by it into dir as
// ca.crt, server.crt and server.key.
func writeCerts(t *testing.T, dir string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "nats"},
		DNSNames:  []string{"nats-0", "nats-1", "nats-2"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for name, block := range map[string]*pem.Block{
		"ca.crt":     {Type: "CERTIFICATE", Bytes: caDER},
		"server.crt": {Type: "CERTIFICATE", Bytes: leafDER},
		"server.key": {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// copyFile copies src to dst, replacing each old string of replace with
// its new one.
func copyFile(t *testing.T, src, dst string, replace ...string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	b = []byte(strings.NewReplacer(replace...).Replace(string(b)))
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// loadNATS processes a NATS configuration the way nats-server does. The
// file is copied with auth.conf next to it (as it is installed); tlsDir
// replaces /etc/nats/tls so that the certificate files exist.
func loadNATS(t *testing.T, path string) *server.Options {
	t.Helper()
	dir := t.TempDir()
	tlsDir := filepath.Join(dir, "tls")
	if err := os.Mkdir(tlsDir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeCerts(t, tlsDir)
	copyFile(t, "nats/auth.conf", filepath.Join(dir, "auth.conf"))
	dst := filepath.Join(dir, filepath.Base(path))
	copyFile(t, path, dst, "/etc/nats/tls", tlsDir)
	opts, err := server.ProcessConfigFile(dst)
	if err != nil {
		t.Fatalf("nats-server rejects %s: %v", path, err)
	}
	return opts
}

func TestNATSConfigs(t *testing.T) {
	setNATSEnv(t)
	for _, tc := range []struct {
		path string
		tls  bool
	}{
		{"nats/cluster.conf", true},
		{"compose/nats.conf", false},
	} {
		t.Run(tc.path, func(t *testing.T) {
			opts := loadNATS(t, tc.path)
			if opts.ServerName != natsEnv["NATS_SERVER_NAME"] {
				t.Errorf("server_name %q: not taken from NATS_SERVER_NAME", opts.ServerName)
			}
			if opts.HTTPHost != "127.0.0.1" || opts.HTTPPort == 0 {
				t.Errorf("monitoring on %s:%d, want it on loopback only", opts.HTTPHost, opts.HTTPPort)
			}
			if !opts.JetStream {
				t.Error("JetStream is not enabled")
			}
			if opts.MaxPayload != 8<<20 {
				t.Errorf("max_payload %d, want 8 MiB like the embedded server", opts.MaxPayload)
			}
			if opts.Cluster.Name != "regsync" || len(opts.Routes) != 3 {
				t.Errorf("cluster %q with %d routes, want regsync with 3", opts.Cluster.Name, len(opts.Routes))
			}
			checkRouteAuth(t, opts)
			if got := opts.TLSConfig != nil; got != tc.tls {
				t.Errorf("client TLS %v, want %v", got, tc.tls)
			}
			if got := opts.Cluster.TLSConfig != nil; got != tc.tls {
				t.Errorf("route TLS %v, want %v", got, tc.tls)
			}
			checkAccounts(t, opts)
		})
	}
}

// checkRouteAuth requires that a node accepts only authenticated routes
// and that its own routes would be accepted by the other nodes: either
// mutual TLS, or a route user whose password every route URL carries
// (nats-server sends a route's credentials from its URL only).
func checkRouteAuth(t *testing.T, opts *server.Options) {
	t.Helper()
	if tc := opts.Cluster.TLSConfig; tc != nil && tc.ClientAuth == tls.RequireAndVerifyClientCert {
		return
	}
	if opts.Cluster.Username == "" || opts.Cluster.Password == "" {
		t.Fatal("routes are neither mutual TLS nor password protected")
	}
	for _, r := range opts.Routes {
		if pw, _ := r.User.Password(); r.User.Username() != opts.Cluster.Username || pw != opts.Cluster.Password {
			t.Errorf("route %s does not carry the cluster's route credentials", r.Redacted())
		}
	}
}

// checkAccounts checks the accounts and users of auth.conf as nats-server
// understood them.
func checkAccounts(t *testing.T, opts *server.Options) {
	t.Helper()
	if opts.SystemAccount != "SYS" {
		t.Errorf("system_account %q", opts.SystemAccount)
	}
	users := map[string]*server.User{}
	for _, u := range opts.Users {
		users[u.Username] = u
	}
	for name, want := range map[string]struct{ account, password string }{
		"regsync": {"REGSYNC", natsEnv["REGSYNC_PASSWORD"]},
		"reader":  {"REGSYNC", natsEnv["READER_PASSWORD"]},
		"sys":     {"SYS", natsEnv["SYS_PASSWORD"]},
	} {
		u := users[name]
		if u == nil {
			t.Errorf("no user %s", name)
			continue
		}
		if u.Account == nil || u.Account.Name != want.account {
			t.Errorf("user %s is not in account %s", name, want.account)
		}
		if u.Password != want.password {
			t.Errorf("user %s's password is not read from the environment", name)
		}
		if name != "sys" && (u.Permissions == nil || u.Permissions.Publish == nil || len(u.Permissions.Publish.Allow) == 0) {
			t.Errorf("user %s has no publish allow list", name)
		}
	}
}

// chartUnquote matches the Helm chart's << raw >> strings, which it writes
// into nats.conf without quotes.
var chartUnquote = regexp.MustCompile(`"<<\s*(.*?)\s*>>"`)

// chartConfig renders the chart's config.merge the way the chart does: as
// JSON, with << raw >> strings unquoted.
func chartConfig(t *testing.T, merge any) string {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(merge); err != nil {
		t.Fatal(err)
	}
	return chartUnquote.ReplaceAllString(b.String(), "$1")
}

func TestHelmValuesMatchAuthConf(t *testing.T) {
	setNATSEnv(t)
	b, err := os.ReadFile("kubernetes/nats-values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var values struct {
		Config struct {
			Cluster struct {
				Enabled  bool `yaml:"enabled"`
				Replicas int  `yaml:"replicas"`
				TLS      struct {
					Enabled bool `yaml:"enabled"`
				} `yaml:"tls"`
			} `yaml:"cluster"`
			NATS struct {
				TLS struct {
					Enabled bool `yaml:"enabled"`
				} `yaml:"tls"`
			} `yaml:"nats"`
			JetStream struct {
				Enabled   bool `yaml:"enabled"`
				FileStore struct {
					Enabled bool `yaml:"enabled"`
				} `yaml:"fileStore"`
			} `yaml:"jetstream"`
			Merge map[string]any `yaml:"merge"`
		} `yaml:"config"`
		Container struct {
			Env map[string]struct {
				ValueFrom struct {
					SecretKeyRef struct {
						Name string `yaml:"name"`
						Key  string `yaml:"key"`
					} `yaml:"secretKeyRef"`
				} `yaml:"valueFrom"`
			} `yaml:"env"`
		} `yaml:"container"`
	}
	if err := yaml.Unmarshal(b, &values); err != nil {
		t.Fatal(err)
	}
	c := values.Config
	if !c.Cluster.Enabled || c.Cluster.Replicas != 3 || !c.JetStream.Enabled || !c.JetStream.FileStore.Enabled {
		t.Errorf("want a 3-node JetStream cluster on file storage: %+v", c)
	}
	if !c.NATS.TLS.Enabled || !c.Cluster.TLS.Enabled {
		t.Error("client and route TLS must be on")
	}

	rendered := chartConfig(t, c.Merge)
	chart, err := conf.Parse(rendered)
	if err != nil {
		t.Fatalf("nats-server cannot parse the chart's merged config: %v\n%s", err, rendered)
	}
	auth, err := conf.ParseFile("nats/auth.conf")
	if err != nil {
		t.Fatal(err)
	}
	if js := auth["accounts"].(map[string]any)["REGSYNC"].(map[string]any)["jetstream"]; js != "enabled" {
		t.Errorf("account REGSYNC: jetstream %v, want enabled", js)
	}
	for _, key := range []string{"accounts", "system_account"} {
		if !reflect.DeepEqual(chart[key], auth[key]) {
			t.Errorf("%s differs between nats-values.yaml and nats/auth.conf:\nchart: %v\nauth.conf: %v", key, chart[key], auth[key])
		}
	}
	cluster, err := conf.ParseFile("nats/cluster.conf")
	if err != nil {
		t.Fatal(err)
	}
	if chart["max_payload"] != cluster["max_payload"] {
		t.Errorf("max_payload %v in the chart, %v in cluster.conf", chart["max_payload"], cluster["max_payload"])
	}

	// Every $VAR the chart's config reads comes from a Secret.
	vars := regexp.MustCompile(`<<\s*\$([A-Z_]+)\s*>>`).FindAllStringSubmatch(string(b), -1)
	if len(vars) == 0 {
		t.Error("no password is read from the environment")
	}
	for _, m := range vars {
		env, ok := values.Container.Env[m[1]]
		if !ok || env.ValueFrom.SecretKeyRef.Name == "" || env.ValueFrom.SecretKeyRef.Key == "" {
			t.Errorf("$%s is not set from a Secret in container.env", m[1])
		}
	}
	if !bytes.Contains(b, []byte("natsBox:\n  enabled: false")) {
		t.Error("nats-box is on without credentials")
	}
}
