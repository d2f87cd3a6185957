package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/bus"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/jserr"
	"github.com/regsync/regsync/internal/retry"
)

// defaultClientURL is the embedded server's default listener.
var defaultClientURL = "nats://" + config.Default().NATS.Embedded.Listen

// connectOptions says how to reach the NATS of cfg: its url and
// credentials, with flags and environment winning over the file. A
// password file is read now.
func (g *globals) connectOptions(cfg *config.Config) (bus.ConnectOptions, error) {
	n := cfg.NATS
	o := bus.ConnectOptions{
		URL:       n.URL,
		Name:      "regsync",
		CredsFile: n.CredsFile,
		User:      n.User,
		Password:  n.Password.Reveal(),
		Token:     n.Token.Reveal(),
		NKeyFile:  n.NKeyFile,
		CAFile:    n.TLS.CAFile,
		CertFile:  n.TLS.CertFile,
		KeyFile:   n.TLS.KeyFile,
	}
	if n.PasswordFile != "" {
		pw, err := bus.ReadPassword(n.PasswordFile)
		if err != nil {
			return o, fmt.Errorf("nats.passwordFile: %w", err)
		}
		o.Password = pw
	}
	g.override(&o)
	return o, nil
}

// override puts the NATS flags and environment variables that are set
// over o.
func (g *globals) override(o *bus.ConnectOptions) {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&o.URL, g.natsURL)
	set(&o.CredsFile, g.creds)
	set(&o.User, g.user)
	set(&o.Password, g.password)
	set(&o.Token, g.token)
	set(&o.NKeyFile, g.nkey)
	set(&o.CAFile, g.ca)
	set(&o.CertFile, g.cert)
	set(&o.KeyFile, g.key)
}

// embeddedAuth returns the user and password the embedded server of cfg
// requires, both "" when nats.embedded.auth is off: nats.user with its
// password, else EmbeddedUser with the password in cfg's password file.
// With create (serve) that file is written on first start; clients only
// read it.
func embeddedAuth(cfg *config.Config, create bool) (user, password string, err error) {
	n := cfg.NATS
	switch {
	case !n.Embedded.Auth:
		return "", "", nil
	case n.User != "" && n.PasswordFile != "":
		password, err = bus.ReadEmbeddedPassword(n.PasswordFile)
		if err != nil {
			return "", "", fmt.Errorf("nats.passwordFile: %w", err)
		}
		return n.User, password, nil
	case n.User != "":
		return n.User, n.Password.Reveal(), nil
	}
	path := cfg.EmbeddedPasswordFile()
	if create {
		password, err = bus.EnsurePassword(path)
	} else {
		password, err = bus.ReadGeneratedPassword(path)
	}
	if err != nil {
		if !create {
			err = fmt.Errorf("%w (the embedded server's password is written there on its first start: has `regsync serve` run with this configuration?)", err)
		}
		return "", "", err
	}
	return bus.EmbeddedUser, password, nil
}

// clientOptions says how a client command reaches the service's NATS.
// With --config (or REGSYNC_CONFIG) it is the configured cluster, or the
// embedded server with the credentials it requires, at its listener or
// at --nats-url (which replaces the address only); without, the default
// loopback listener with the credentials given as flags.
func (g *globals) clientOptions() (bus.ConnectOptions, error) {
	if g.config == "" {
		o := bus.ConnectOptions{URL: defaultClientURL}
		g.override(&o)
		o.Name = "regsync-cli"
		return o, nil
	}
	cfg, _, err := config.Load(g.config)
	if err != nil {
		return bus.ConnectOptions{}, err
	}
	relativeData := resolveServiceFiles(g.config, cfg)
	o, err := g.connectOptions(cfg)
	if err != nil {
		return o, err
	}
	o.Name = "regsync-cli"
	if cfg.NATS.URL != "" {
		return o, nil
	}
	if g.natsURL == "" {
		if cfg.NATS.Embedded.Listen == "" {
			return o, fmt.Errorf("%s: the embedded server has no TCP listener (nats.embedded.listen is empty), so no client can reach it", g.config)
		}
		o.URL = "nats://" + loopback(cfg.NATS.Embedded.Listen)
	}
	if t := cfg.NATS.Embedded.TLS; t.CertFile != "" {
		// The listener requires TLS: trust its CA (or its certificate,
		// when it signs itself) and, when it verifies clients, present its
		// own certificate, unless flags or nats.tls say otherwise.
		if o.CAFile == "" {
			o.CAFile = cmp.Or(t.CAFile, t.CertFile)
		}
		if t.CAFile != "" && o.CertFile == "" && o.KeyFile == "" {
			o.CertFile, o.KeyFile = t.CertFile, t.KeyFile
		}
	}
	user, password, err := embeddedAuth(cfg, false)
	if err != nil {
		if relativeData && cfg.NATS.User == "" {
			name := filepath.Base(cfg.EmbeddedPasswordFile())
			err = fmt.Errorf("read the embedded server's password: dataDir %q is relative to the directory `regsync serve` runs in, and neither %s nor %s exists (has `regsync serve` run with this configuration? Run the client from the directory it runs in, or make dataDir absolute)",
				cfg.DataDir, filepath.Join(absPath(cfg.DataDir), name), filepath.Join(filepath.Dir(absPath(g.config)), cfg.DataDir, name))
		}
		return o, err
	}
	if g.user == "" && g.password == "" {
		o.User, o.Password = user, password
	}
	return o, nil
}

// resolveServiceFiles points the relative paths of cfg that name files of
// the service (dataDir with the embedded server's password, the NATS
// credentials and TLS files) where a client command finds them. serve
// resolves them against its working directory; a client run elsewhere
// finds them against the directory of the configuration file, where serve
// is usually run. A path found in neither place is left as it is, and
// resolveServiceFiles reports whether that is the case of dataDir.
func resolveServiceFiles(configPath string, cfg *config.Config) (relativeData bool) {
	n := &cfg.NATS
	for _, p := range []*string{&cfg.DataDir, &n.PasswordFile, &n.CredsFile, &n.NKeyFile, &n.TLS.CAFile, &n.TLS.CertFile, &n.TLS.KeyFile,
		&n.Embedded.TLS.CAFile, &n.Embedded.TLS.CertFile, &n.Embedded.TLS.KeyFile} {
		if *p == "" || filepath.IsAbs(*p) {
			continue
		}
		if fileExists(*p) {
			continue
		}
		if beside := filepath.Join(filepath.Dir(configPath), *p); fileExists(beside) {
			*p = beside
		}
	}
	return !filepath.IsAbs(cfg.DataDir) && !fileExists(cfg.DataDir)
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// absPath is path made absolute for a message, or path itself.
func absPath(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}

// loopbackOnly reports whether a listen address accepts connections from
// this host alone.
func loopbackOnly(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loopback turns a listen address into one to connect to: a listener on
// every interface is reached on the loopback one.
func loopback(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// connectClient connects a client command (sync, status, watch) to the
// NATS that the service uses.
func (g *globals) connectClient() (*nats.Conn, jetstream.JetStream, error) {
	o, err := g.clientOptions()
	if err != nil {
		return nil, nil, err
	}
	nc, err := bus.Connect(o)
	if err != nil {
		return nil, nil, clientHint(err, g.config != "")
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	return nc, js, nil
}

// clientHint adds what to do to a client's connection error.
func clientHint(err error, withConfig bool) error {
	switch {
	case bus.IsAuthError(err) && !withConfig:
		return fmt.Errorf("%w (pass --config FILE or set REGSYNC_CONFIG so the credentials are read from the configuration, or give --nats-user and --nats-password)", err)
	case bus.IsAuthError(err):
		return fmt.Errorf("%w (check the credentials in the configuration and the flags)", err)
	case bus.IsUnreachable(err):
		return fmt.Errorf("%w (is `regsync serve` running? pass --config FILE, or set --nats-url or REGSYNC_NATS_URL)", err)
	}
	return err
}

// clientPublisher returns the publisher of a client command: it names the
// deployment in the source attribute when the REGSYNC_RESULTS stream read
// as results (nil when it could not be read) holds the deployment id, and
// says so when it does not.
func clientPublisher(js jetstream.JetStream, results *jetstream.StreamInfo, stderr io.Writer) bus.Publisher {
	id := unknownDeployment
	if results == nil {
		fmt.Fprintf(stderr, "warning: stream %s cannot be read; requests name the producer %s\n", events.StreamResults, unknownDeployment)
	} else if d, err := bus.DeploymentOf(results); err != nil {
		fmt.Fprintf(stderr, "warning: %v; requests name the producer %s\n", err, unknownDeployment)
	} else {
		id = d
	}
	return bus.Publisher{JS: js, Deployment: id}
}

// unknownDeployment stands for the deployment id in the source of requests
// from a client that cannot read it.
const unknownDeployment = "unknown"

// clientBackoff is how the client commands wait out a cluster that is
// changing while they follow results. A results stream that does not
// exist (yet) counts: serve makes it at start, and a command follows only
// once it knows that a service runs.
var clientBackoff = retry.Backoff{First: 100 * time.Millisecond, Limit: 2 * time.Second, Retryable: func(err error) bool {
	return jserr.Temporary(err) || errors.Is(err, jetstream.ErrStreamNotFound)
}}

// follow hands fn the messages of REGSYNC_RESULTS that an ordered consumer
// with cfg delivers, until fn returns false or ctx is done. It outlasts a
// cluster that changes: when the consumer cannot be made, or stops with an
// error that a later try can get past, it is made again after a pause,
// starting after the last message handed over, so nothing is missed or
// handed over twice.
func follow(ctx context.Context, js jetstream.JetStream, cfg jetstream.OrderedConsumerConfig, fn func(jetstream.Msg) bool) error {
	err := clientBackoff.Do(ctx, func(ctx context.Context) error {
		return followOnce(ctx, js, &cfg, fn)
	})
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return fmt.Errorf("stream %s does not exist (has `regsync serve` started?)", events.StreamResults)
	case err != nil:
		return fmt.Errorf("read %s: %w", events.StreamResults, err)
	}
	return nil
}

// followOnce is one ordered consumer of follow. After each message handed
// over, cfg starts after it.
func followOnce(ctx context.Context, js jetstream.JetStream, cfg *jetstream.OrderedConsumerConfig, fn func(jetstream.Msg) bool) error {
	create, cancel := context.WithTimeout(ctx, clientCallTimeout)
	cons, err := js.OrderedConsumer(create, events.StreamResults, *cfg)
	cancel()
	if err != nil {
		return err
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	defer it.Stop()
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if meta, err := msg.Metadata(); err == nil {
			*cfg = fromSequence(cfg.FilterSubjects, meta.Sequence.Stream+1)
		}
		if !fn(msg) {
			return nil
		}
	}
}

// fromSequence is the consumer of the messages on subjects from stream
// sequence seq on.
func fromSequence(subjects []string, seq uint64) jetstream.OrderedConsumerConfig {
	return jetstream.OrderedConsumerConfig{FilterSubjects: subjects, DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: seq}
}

// clientCallTimeout bounds each JetStream request of a client command, so
// that a request the cluster lost (a server that died while answering)
// costs seconds and is tried again, instead of the command's whole
// --timeout.
const clientCallTimeout = 5 * time.Second

// readResults reads the REGSYNC_RESULTS stream's settings and state, trying
// again while the cluster cannot answer, until ctx is done. The error
// wraps jetstream.ErrStreamNotFound when there is no such stream yet.
func readResults(ctx context.Context, js jetstream.JetStream) (*jetstream.StreamInfo, error) {
	var info *jetstream.StreamInfo
	b := retry.Backoff{First: clientBackoff.First, Limit: clientBackoff.Limit, Timeout: clientCallTimeout, Retryable: jserr.Temporary}
	err := b.Do(ctx, func(ctx context.Context) error {
		s, err := js.Stream(ctx, events.StreamResults)
		if err == nil {
			info = s.CachedInfo()
		}
		return err
	})
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("stream %s does not exist (has `regsync serve` started?): %w", events.StreamResults, err)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", events.StreamResults, err)
	}
	return info, nil
}
