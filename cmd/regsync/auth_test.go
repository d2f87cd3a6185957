package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/regsync/regsync/internal/bus"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/testsupport"
)

// The embedded server requires the password generated on first start;
// client commands read it through --config or REGSYNC_CONFIG, and a client
// without it is told what to do.
func TestEmbeddedNATSAuth(t *testing.T) {
	svc := startServe(t)
	pwFile := filepath.Join(filepath.Dir(svc.cfgPath), "data", "nats-password")
	info, err := os.Stat(pwFile)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("password file mode %v, want 0600", info.Mode().Perm())
	}
	addr := svc.natsURL[strings.LastIndex(svc.natsURL, "@")+1:]

	t.Run("a client without credentials is refused and told to pass --config", func(t *testing.T) {
		_, _, err := cli(t, "status", "--nats-url", "nats://"+addr)
		if err == nil || !strings.Contains(err.Error(), "authentication failed") || !strings.Contains(err.Error(), "--config") {
			t.Errorf("err %v", err)
		}
	})
	t.Run("a wrong password is refused", func(t *testing.T) {
		_, _, err := cli(t, "status", "--config", svc.cfgPath, "--nats-password", "not-it")
		if err == nil || !strings.Contains(err.Error(), "authentication failed") {
			t.Errorf("err %v", err)
		}
	})
	t.Run("REGSYNC_CONFIG gives the address and password", func(t *testing.T) {
		// The service listens on the port the system picked: the client's
		// copy of its configuration names that port.
		cfg, err := os.ReadFile(svc.cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		listen := []byte(`listen: "` + anyPort + `"`)
		if !bytes.Contains(cfg, listen) {
			t.Fatalf("the configuration has no %s:\n%s", listen, cfg)
		}
		clientCfg := filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(clientCfg, bytes.Replace(cfg, listen, []byte(`listen: "`+addr+`"`), 1), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Setenv("REGSYNC_CONFIG", clientCfg)
		out, _, err := cli(t, "status")
		if err != nil || !strings.Contains(out, "local ") {
			t.Errorf("status: %v\n%s", err, out)
		}
	})
	t.Run("nobody else can publish a result", func(t *testing.T) {
		if nc, err := bus.Connect(bus.ConnectOptions{URL: "nats://" + addr}); err == nil {
			nc.Close()
			t.Fatal("connected without the password")
		}
	})
	t.Run("the password is never logged", func(t *testing.T) {
		pw, _ := os.ReadFile(pwFile)
		if strings.Contains(svc.log.String(), strings.TrimSpace(string(pw))) {
			t.Error("the password is in the log")
		}
		if !strings.Contains(svc.log.String(), pwFile) {
			t.Errorf("the log does not say where the password is:\n%s", svc.log.String())
		}
	})
}

// nats.embedded.auth: false lets any client in, and serve warns about it
// at every start.
func TestEmbeddedNATSAuthOff(t *testing.T) {
	dir := t.TempDir()
	regPath := filepath.Join(dir, "registry.json")
	if err := os.WriteFile(regPath, []byte(testRegistry), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	cfg := fmt.Sprintf("dataDir: %s\nnats: {embedded: {listen: %q, auth: false}}\nhttp: {addr: %q}\nsources:\n  - name: open\n    file: {path: %s}\n    syncPolicy: {interval: 1h}\n",
		filepath.Join(dir, "data"), anyPort, anyPort, regPath)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	var log testsupport.Buffer
	go func() { served <- run(ctx, []string{"serve", "--config", cfgPath}, &bytes.Buffer{}, &log) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	addr := natsAddr(t, &log)
	testsupport.Eventually(t, "an unauthenticated client reads the status", func() bool {
		out, _, err := cli(t, "status", "open", "--nats-url", "nats://"+addr)
		return err == nil && strings.Contains(out, "Complete")
	})
	if !strings.Contains(log.String(), "nats.embedded.auth is false") || !strings.Contains(log.String(), "level=WARN") {
		t.Errorf("no warning in the log:\n%s", log.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "nats-password")); err == nil {
		t.Error("a password file was written with auth off")
	}
}

// A connection error names the kind of failure and never prints the
// credentials in --nats-url.
func TestConnectErrorsAreRedacted(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	cfg := fmt.Sprintf("dataDir: %s\nhttp: {addr: %q}\nsources:\n  - name: x\n    file: {path: %s}\n    syncPolicy: {interval: 1h}\n",
		filepath.Join(dir, "data"), anyPort, filepath.Join(dir, "registry.json"))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	// Nothing listens on port 0: a connection there is refused at once.
	url := "nats://bob:hunter2-secret@127.0.0.1:0?token=t0k3n-secret"
	for _, args := range [][]string{
		{"status"},
		{"sync", "x"},
		{"watch"},
		{"serve", "--config", cfgPath},
	} {
		t.Run(args[0], func(t *testing.T) {
			_, errOut, err := cli(t, append(args, "--nats-url", url)...)
			if err == nil {
				t.Fatal("connected to nothing")
			}
			msg := err.Error() + errOut
			if strings.Contains(msg, "hunter2-secret") || strings.Contains(msg, "t0k3n-secret") || !strings.Contains(msg, "server unreachable") {
				t.Errorf("error %q", msg)
			}
		})
	}
}

// With nats.embedded.tls the listener requires TLS and, with a CA, client
// certificates; `regsync status --config` connects with the configured
// CA and certificate, and a client without TLS is refused.
func TestEmbeddedNATSTLS(t *testing.T) {
	dir := t.TempDir()
	pki := testsupport.NewPKI(t)
	regPath := filepath.Join(dir, "registry.json")
	if err := os.WriteFile(regPath, []byte(testRegistry), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	cfg := fmt.Sprintf("dataDir: %s\nnats: {embedded: {listen: %q, tls: {certFile: %s, keyFile: %s, caFile: %s}}}\nhttp: {addr: %q}\nsources:\n  - name: secured\n    file: {path: %s}\n    syncPolicy: {interval: 1h}\n",
		filepath.Join(dir, "data"), anyPort, pki.ServerCert, pki.ServerKey, pki.CA, anyPort, regPath)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	var log testsupport.Buffer
	go func() { served <- run(ctx, []string{"serve", "--config", cfgPath}, &bytes.Buffer{}, &log) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	addr := natsAddr(t, &log)
	testsupport.Eventually(t, "status over TLS", func() bool {
		out, _, err := cli(t, "status", "secured", "--config", cfgPath, "--nats-url", "nats://"+addr)
		return err == nil && strings.Contains(out, "Complete")
	})
	pw, err := os.ReadFile(filepath.Join(dir, "data", "nats-password"))
	if err != nil {
		t.Fatal(err)
	}
	if nc, err := bus.Connect(bus.ConnectOptions{URL: "nats://" + addr, User: bus.EmbeddedUser, Password: strings.TrimSpace(string(pw))}); err == nil {
		nc.Close()
		t.Error("a client without TLS connected")
	}
	if strings.Contains(log.String(), "without TLS") {
		t.Errorf("warned about a listener without TLS:\n%s", log.String())
	}
}

// A listener beyond loopback without TLS is warned about at every start;
// one on loopback is not.
func TestEmbeddedListenerWithoutTLSIsWarned(t *testing.T) {
	for listen, warned := range map[string]bool{"0.0.0.0:0": true, ":0": true, "127.0.0.1:0": false, "localhost:0": false} {
		t.Run(listen, func(t *testing.T) {
			cfg := config.Default()
			cfg.DataDir = t.TempDir()
			cfg.NATS.Embedded.Listen = listen
			var log testsupport.Buffer
			emb, err := startEmbedded(slog.New(slog.NewTextHandler(&log, nil)), cfg, bus.EmbeddedUser, "a-password-of-enough-length")
			if err != nil {
				t.Fatal(err)
			}
			emb.Shutdown()
			if got := log.Contains("level=WARN") && log.Contains("without TLS"); got != warned {
				t.Errorf("warned %v, want %v:\n%s", got, warned, log.String())
			}
		})
	}
}
