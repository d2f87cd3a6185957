package bus

import (
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbeddedOptions configures the in-process nats-server.
type EmbeddedOptions struct {
	// StoreDir is where JetStream keeps its files.
	StoreDir string
	// Listen is the TCP address for clients such as the nats CLI and
	// `regsync status`. Empty means no TCP listener: only in-process
	// connections are possible.
	Listen string
	// User and Password, when Password is set, are required of every
	// client, in-process connections included. Without a password any
	// client that reaches the listener may publish, read and delete.
	User, Password string
	// CertFile and KeyFile, when set, make the listener require TLS with
	// that certificate; CAFile, when set too, requires client certificates
	// signed by it. In-process connections need no TLS.
	CertFile, KeyFile, CAFile string
}

// Embedded is a nats-server with JetStream running inside this process.
type Embedded struct {
	srv *server.Server
}

// StartEmbedded starts a nats-server with JetStream on disk and waits until
// it accepts connections.
func StartEmbedded(opts EmbeddedOptions) (*Embedded, error) {
	sopts := &server.Options{
		ServerName: "regsync",
		JetStream:  true,
		StoreDir:   opts.StoreDir,
		NoSigs:     true,
		NoLog:      true,
		// Every event is at most 1 MiB (events.MaxEventSize, its diffs
		// cut to fit). The largest message is a status record holding a
		// result not yet published (pendingResult: the whole event, in
		// the record), which can pass NATS' default of 1 MiB; 8 MiB
		// leaves it room while keeping every message bounded.
		MaxPayload: 8 << 20,
		// No cache of subject matches: regsync publishes to subjects of
		// every source (results, entry records, object chunks), more
		// distinct subjects than the cache keeps, and every object it
		// stores subscribes and unsubscribes a reply subject (nats.go
		// makes one per object store Put), which the server checks
		// against every cached subject both times. With 1,000 sources
		// that upkeep was about a third of the server's CPU (6-7 % of the
		// process's), far more than matching without a cache costs.
		NoSublistCache: true,
	}
	if opts.Password != "" {
		sopts.Username, sopts.Password = opts.User, opts.Password
	}
	if opts.CertFile != "" || opts.KeyFile != "" {
		tc, err := serverTLS(opts.CertFile, opts.KeyFile, opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("embedded nats-server TLS: %w", err)
		}
		sopts.TLSConfig, sopts.TLS, sopts.TLSVerify = tc, true, opts.CAFile != ""
	}
	if opts.Listen == "" {
		sopts.DontListen = true
	} else {
		host, portStr, err := net.SplitHostPort(opts.Listen)
		if err != nil {
			return nil, fmt.Errorf("embedded nats listen address %q: %w", opts.Listen, err)
		}
		port, err := strconv.Atoi(portStr)
		if err != nil {
			return nil, fmt.Errorf("embedded nats listen port %q: %w", portStr, err)
		}
		if port == 0 {
			port = server.RANDOM_PORT
		} else if err := checkFree(opts.Listen); err != nil {
			return nil, err
		}
		sopts.Host, sopts.Port = host, port
	}
	srv, err := server.NewServer(sopts)
	if err != nil {
		return nil, fmt.Errorf("create embedded nats-server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("embedded nats-server not ready (listen %q): is the address already in use?", opts.Listen)
	}
	return &Embedded{srv: srv}, nil
}

// Server returns the running server, for in-process connections.
func (e *Embedded) Server() *server.Server { return e.srv }

// ClientURL is the TCP URL clients use, or "" without a listener.
func (e *Embedded) ClientURL() string {
	if e.srv.Addr() == nil {
		return ""
	}
	return e.srv.ClientURL()
}

// Shutdown stops the server and waits until it has stopped.
func (e *Embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}

// serverTLS is the TLS setup of the embedded server's listener: its
// certificate and, with caFile, client certificates required and verified
// against caFile.
func serverTLS(certFile, keyFile, caFile string) (*tls.Config, error) {
	cert, err := loadCertificate(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if caFile != "" {
		if tc.ClientCAs, err = loadCAs(caFile); err != nil {
			return nil, err
		}
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// checkFree fails fast, and says why, when the listen address is taken: the
// server itself would only fail to become ready.
func checkFree(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("embedded nats-server cannot listen on %s (is another regsync or nats-server running? set nats.embedded.listen): %w", addr, err)
	}
	return ln.Close()
}
