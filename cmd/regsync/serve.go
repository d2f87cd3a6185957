package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/api"
	"github.com/regsync/regsync/internal/burst"
	"github.com/regsync/regsync/internal/bus"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/dirlock"
	"github.com/regsync/regsync/internal/jserr"
	"github.com/regsync/regsync/internal/registry/views"
	"github.com/regsync/regsync/internal/reload"
	"github.com/regsync/regsync/internal/retry"
	"github.com/regsync/regsync/internal/sources"
	"github.com/regsync/regsync/internal/syncer"
	"github.com/regsync/regsync/internal/syncer/coordinator"
	"github.com/regsync/regsync/internal/syncer/entries"
	"github.com/regsync/regsync/internal/syncer/state"
	"github.com/regsync/regsync/internal/syncer/writer"
	"github.com/regsync/regsync/internal/tracing"
	"github.com/regsync/regsync/internal/watch"
	"github.com/regsync/regsync/internal/webhook"
)

func serveCmd(ctx context.Context, g *globals, args []string, _, stderr io.Writer) error {
	fs := g.flagSet("serve")
	if _, err := g.parse(fs, args, stderr); err != nil {
		return err
	}
	logger, err := g.logger(stderr)
	if err != nil {
		return err
	}
	if g.config == "" {
		return fmt.Errorf("%w: serve needs --config FILE", errUsage)
	}
	cfg, warnings, err := config.Load(g.config)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		logger.Warn(w)
	}
	// A source without its credentials would fail every sync, a receiver
	// without its secret would stay off while /readyz says ready: refuse
	// to start instead.
	if err := cfg.CheckFiles(); err != nil {
		return fmt.Errorf("load config %s: %w", g.config, err)
	}
	if err := webhook.CheckSecrets(cfg.Webhooks, cfg.Sources); err != nil {
		return fmt.Errorf("load config %s: %w", g.config, err)
	}
	return serve(ctx, logger, g, g.config, cfg)
}

// serve runs regsync until ctx is done: it connects to NATS (connect),
// builds every part of the service (build) and runs them (run).
func serve(ctx context.Context, logger *slog.Logger, g *globals, configPath string, cfg *config.Config) error {
	// One serve per data directory: two would overwrite each other's
	// clones, replica identity and embedded store.
	lock, err := dirlock.Acquire(cfg.DataDir)
	if err != nil {
		return err
	}
	defer lock.Release()
	stopTracing, err := tracing.Setup(ctx, version, logger)
	if err != nil {
		return err
	}
	defer func() {
		flush, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := stopTracing(flush); err != nil {
			logger.Warn("tracing: spans not flushed", "err", err)
		}
	}()
	conn, err := connect(ctx, logger, g, cfg)
	if err != nil {
		return err
	}
	defer conn.close()
	p, err := build(logger, configPath, cfg, conn)
	if err != nil {
		return err
	}
	err = p.run(ctx)
	logger.Info("regsync stopped")
	if err := conn.nc.Drain(); err != nil {
		logger.Warn("nats drain", "err", err)
	}
	return err
}

// connection is the service's way to NATS: the embedded server when the
// configuration names no cluster, the connection, and the streams,
// buckets and object store that regsync works with.
type connection struct {
	emb *bus.Embedded // nil with an external cluster
	nc  *nats.Conn
	h   *bus.Handles
}

func (c *connection) close() {
	if c.nc != nil {
		c.nc.Close()
	}
	if c.emb != nil {
		c.emb.Shutdown()
	}
}

// connect starts the embedded server unless the configuration names a
// cluster, connects, and makes sure what regsync needs in JetStream
// exists, waiting out a cluster that cannot answer yet (a restart or a
// leader election) until ctx is done.
func connect(ctx context.Context, logger *slog.Logger, g *globals, cfg *config.Config) (*connection, error) {
	copts, err := g.connectOptions(cfg)
	if err != nil {
		return nil, err
	}
	copts.Logger = logger
	replicas := cfg.NATS.Replicas
	c := &connection{}
	if copts.URL == "" {
		user, password, err := embeddedAuth(cfg, true)
		if err != nil {
			return nil, err
		}
		if c.emb, err = startEmbedded(logger, cfg, user, password); err != nil {
			return nil, err
		}
		copts.Embedded = c.emb
		copts.User, copts.Password = user, password
		replicas = 1
	}
	if c.nc, err = bus.Connect(copts); err != nil {
		c.close()
		return nil, err
	}
	if c.h, err = ensure(ctx, logger, c.nc, cfg, replicas); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// startEmbedded starts the embedded nats-server of cfg, requiring user and
// password of every client unless password is empty.
func startEmbedded(logger *slog.Logger, cfg *config.Config, user, password string) (*bus.Embedded, error) {
	if password == "" {
		logger.Warn("the embedded nats-server accepts any client that reaches its listener (nats.embedded.auth is false): anyone on this machine can forge results, status and snapshots",
			"listen", cfg.NATS.Embedded.Listen)
	}
	e := cfg.NATS.Embedded
	if e.Listen != "" && e.TLS.CertFile == "" && !loopbackOnly(e.Listen) {
		logger.Warn("the embedded nats-server listens beyond this host without TLS: the password and every message cross the network in clear; set nats.embedded.tls",
			"listen", e.Listen)
	}
	storeDir := cfg.EmbeddedStoreDir()
	emb, err := bus.StartEmbedded(bus.EmbeddedOptions{
		StoreDir: storeDir, Listen: e.Listen, User: user, Password: password,
		CertFile: e.TLS.CertFile, KeyFile: e.TLS.KeyFile, CAFile: e.TLS.CAFile,
	})
	if err != nil {
		return nil, err
	}
	attrs := []any{"store_dir", storeDir, "client_url", emb.ClientURL(), "auth", password != "", "tls", e.TLS.CertFile != ""}
	if password != "" && cfg.NATS.User == "" {
		attrs = append(attrs, "user", user, "password_file", cfg.EmbeddedPasswordFile())
	}
	logger.Info("embedded nats-server started", attrs...)
	return emb, nil
}

// ensure makes sure the streams, buckets and object store exist, trying
// again while the cluster cannot answer, until ctx is done.
func ensure(ctx context.Context, logger *slog.Logger, nc *nats.Conn, cfg *config.Config, replicas int) (*bus.Handles, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	mode, err := events.ParseContentMode(cfg.Events.ContentMode)
	if err != nil {
		return nil, err
	}
	res := bus.Resources{
		Replicas: replicas,
		LeaseTTL: time.Duration(cfg.Sync.LeaseTTL),
		Results: bus.Retention{
			MaxAge:            time.Duration(cfg.NATS.Results.MaxAge),
			MaxBytes:          cfg.NATS.Results.MaxBytes.Int64(),
			MaxMsgsPerSubject: cfg.NATS.Results.MaxMsgsPerSubject,
		},
		ContentMode: mode,
		Logger:      logger,
	}
	var h *bus.Handles
	b := retry.Backoff{First: time.Second, Limit: 30 * time.Second, Retryable: jserr.Temporary, OnRetry: func(attempt int, err error, wait time.Duration) {
		logger.Warn("NATS cannot set up regsync's streams and buckets yet, retrying", "attempt", attempt, "retry_in", wait, "err", err)
	}}
	err = b.Do(ctx, func(ctx context.Context) (err error) {
		h, err = bus.Ensure(ctx, js, res)
		return err
	})
	if err != nil {
		return nil, err
	}
	logger.Info("deployment", "id", h.Deployment, "content_mode", string(mode))
	return h, nil
}

// pipeline is every part of a running regsync, built from one
// configuration on one connection.
type pipeline struct {
	logger   *slog.Logger
	cfg      *config.Config
	conn     *connection
	ready    readiness
	status   *state.Store
	metrics  *serveMetrics
	coord    *coordinator.Coordinator
	interval *coordinator.Interval
	// statusWatch feeds the status metrics and the interval.
	statusWatch *coordinator.StatusWatch
	files       *watch.FileWatcher
	refs        *watch.Poller
	polls       *watch.Poller
	reloader    *reload.Reloader
	// registries keeps this replica's views of the registries and serves
	// them (the read API).
	registries *servedRegistries
	srv        *http.Server
	ln         net.Listener
	// apiSrv and apiLn are the read API's own listener (api.addr), nil
	// when it is served on http.addr.
	apiSrv *http.Server
	apiLn  net.Listener
}

// returnMemory is regsync's one memory policy, called by the parts that
// leave much garbage at once and then little allocation to set off a
// collection (a sync of a large document, a burst of HTTP requests to the
// read API or the webhooks once it has passed): the garbage is collected
// and its memory returned to the operating system at once (one
// collection, a few milliseconds), so that the resident memory falls back
// between peaks. No GOGC or GOMEMLIMIT is set: both remain the
// operator's. A variable for tests, which count its calls.
var returnMemory = debug.FreeOSMemory

// build makes every part of the pipeline; nothing runs yet.
func build(logger *slog.Logger, configPath string, cfg *config.Config, conn *connection) (*pipeline, error) {
	h := conn.h
	srcs := cfg.SyncedSources()
	s := &pipeline{logger: logger, cfg: cfg, conn: conn, status: state.NewStore(h.Status, logger)}
	s.ready.consuming = func() error { return s.coord.Ready() }
	// Every replica keeps the views of every registry and serves them,
	// with a change feed of each.
	handler := api.NewHandler(nil, logger)
	handler.Feed().SetLimits(cfg.API.MaxSSEClients, api.DefaultHeartbeat)
	handler.SetCORS(cfg.API.CORS)
	reg := prometheus.NewRegistry()
	regs := cfg.EffectiveRegistries()
	regNames := make([]string, 0, len(regs))
	for _, r := range regs {
		regNames = append(regNames, r.Name)
	}
	s.metrics = newServeMetrics(reg, conn.nc, srcs, regNames, handler.Feed())
	// One fetcher for workers and pollers: it keeps the git clones and the
	// last HTTP responses that make unchanged checks cheap.
	fetcher := &sources.Fetcher{MaxSize: cfg.Sync.MaxDataSize.Int64(), DataDir: cfg.DataDir, Logger: logger, Version: version,
		Checks: s.metrics.checks}
	holder, err := coordinator.ReplicaID(cfg.DataDir)
	if err != nil {
		hostname, _ := os.Hostname()
		holder = fmt.Sprintf("%s/%d", hostname, os.Getpid())
		logger.Warn("no stable replica identity, leases of a crashed run will have to expire", "err", err, "holder", holder)
	}
	mgr := syncer.NewManager(fetcher, writer.New(h.Data), logger)
	mgr.ReturnMemory = returnMemory
	records := entries.New(h.JS, h.Entries, time.Duration(cfg.NATS.Results.MaxAge))
	mgr.Entries = records
	mgr.Accepted = records.Accepted
	s.coord = coordinator.New(h, mgr, s.status, srcs, coordinator.Options{
		Workers:     cfg.Sync.Workers,
		LeaseTTL:    time.Duration(cfg.Sync.LeaseTTL),
		SyncTimeout: time.Duration(cfg.Sync.Timeout),
		Holder:      holder,
		Source:      h.Publisher.Source(events.ProducerCoordinator),
		Logger:      logger,
		Metrics:     s.metrics.coord,
	})
	for _, src := range cfg.Sources {
		if !src.Synced() {
			logger.Warn("source is not synced by regsync", "source", src.Name, "type", src.Type())
		}
	}
	hooks := webhook.New(h.Publisher, cfg.Webhooks, srcs, webhook.Options{
		MaxBody:       cfg.Webhooks.MaxBodySize.Int64(),
		MaxUnverified: cfg.Webhooks.MaxUnverifiedBytes.Int64(),
		RatePerSecond: cfg.Webhooks.RateLimit.PerSecond,
		Burst:         cfg.Webhooks.RateLimit.Burst,
	}, logger)
	if enabled := hooks.Enabled(); len(enabled) > 0 {
		logger.Info("webhooks enabled", "providers", enabled)
	}
	s.registries = &servedRegistries{handler: handler, serveClaimed: cfg.API.ServeClaimedRegistries, logger: logger}
	s.registries.serve(regs)
	s.registries.views = views.New(h.Entries, regs, handler, logger)
	// The follower reads every commit on this replica already: it keeps
	// the syncs' record store current, so a sync after another replica's
	// does not read the source's records back.
	s.registries.views.Keep(records)
	// One leased merger per registry writes its view, status and events.
	s.registries.merger = coordinator.NewMerger(h, coordinator.MergerOptions{
		Leases:   coordinator.NewLeases(h.Locks, holder, time.Duration(cfg.Sync.LeaseTTL)),
		Views:    s.registries.views.Merged,
		Busy:     s.coord.Busy,
		LeaseTTL: time.Duration(cfg.Sync.LeaseTTL),
		Logger:   logger,
	}, regs)
	s.coord.OnIdle(s.registries.merger.SourceIdle)
	s.registries.views.SetMetrics(s.metrics.views)
	// The feed learns each generation from the stored registry.changed
	// events and sends it once this replica's view has its content.
	s.registries.changes = views.NewChanges(h.JS, handler.Feed(), logger)
	// The merger writes a merge while its API view is built.
	s.registries.views.OnMerged(s.registries.merger.Changed)
	s.registries.views.OnChange(func(name string, r *views.Registry) {
		handler.Feed().Applied(name, r.Merged.Digest().String(), r.API)
	})
	s.ready.views = s.registries.views.Loaded()
	// One count of the requests that grow the heap in bursts: the read
	// API's and the webhooks'.
	bursts := burst.New(returnMemory)
	apiHandler := instrumentAPI(s.metrics.apiRequests, bursts.Handler(handler))
	mounted := apiHandler
	if cfg.API.Addr != "" {
		mounted = nil
		if s.apiSrv, s.apiLn, err = listenHTTP(cfg.API.Addr, apiHandler); err != nil {
			return nil, fmt.Errorf("api listen %s: %w", cfg.API.Addr, err)
		}
	}
	s.srv, s.ln, err = listenHTTP(cfg.HTTP.Addr, httpHandler(conn.nc, &s.ready, reg, instrumentWebhooks(s.metrics.webhooks, bursts.Handler(hooks)), mounted))
	if err != nil {
		if s.apiLn != nil {
			s.apiLn.Close()
		}
		return nil, fmt.Errorf("http listen %s: %w", cfg.HTTP.Addr, err)
	}
	// Shutdown waits for every request to end: the feed's streams end
	// when it begins.
	for _, srv := range []*http.Server{s.srv, s.apiSrv} {
		if srv != nil {
			srv.RegisterOnShutdown(handler.Feed().Close)
		}
	}

	s.interval = coordinator.NewInterval(h.Publisher, srcs, logger)
	s.statusWatch = coordinator.NewStatusWatch(h, logger, s.metrics.status, s.interval, s.registries.merger)
	s.files = watch.NewFileWatcher(h.Publisher, s.status, time.Duration(cfg.Watch.Debounce), cfg.Sync.MaxDataSize.Int64(), logger)
	s.files.SetSources(srcs)
	s.refs = watch.NewGitPoller(h.Publisher, s.status, fetcher, time.Duration(cfg.Watch.GitPollInterval), logger)
	s.refs.SetSources(srcs)
	s.polls = watch.NewHTTPPoller(h.Publisher, s.status, fetcher, time.Duration(cfg.Watch.HTTPPollInterval), logger)
	s.polls.SetSources(srcs)
	applier := &reload.Applier{
		Followers:  []reload.Follower{s.coord, s.metrics.status, s.interval, s.files, s.refs, s.polls},
		Webhooks:   hooks,
		Registries: s.registries,
		Publisher:  h.Publisher,
		Status:     s.status,
		Logger:     logger,
	}
	s.reloader = reload.New(configPath, cfg, applier.Apply, logger)
	s.reloader.Reloads = s.metrics.reloads
	return s, nil
}

// listenHTTP listens on addr and returns the server that will serve h
// there.
func listenHTTP(addr string, h http.Handler) (*http.Server, net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	return &http.Server{
		Addr:    addr,
		Handler: h,
		// Slow clients cannot hold connections open.
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}, ln, nil
}

// servedRegistries is the read API of this replica and the follower that
// keeps its views; a reload gives both the new registries at once.
type servedRegistries struct {
	handler *api.Handler
	views   *views.Follower
	merger  *coordinator.Merger
	// changes follows the registry.changed events into the change feed.
	changes      *views.Changes
	serveClaimed bool
	logger       *slog.Logger
}

// serve makes the handler's registries those given, refusing each one
// with claims unless api.serveClaimedRegistries is set.
func (s *servedRegistries) serve(regs []config.Registry) {
	names := make([]string, 0, len(regs))
	refused := map[string]string{}
	for _, reg := range regs {
		names = append(names, reg.Name)
		if len(reg.Claims) > 0 && !s.serveClaimed {
			refused[reg.Name] = "it has claims and regsync does not authenticate callers (set api.serveClaimedRegistries: true to serve it)"
			s.logger.Warn("registry has claims and is not served over HTTP: regsync does not authenticate callers; set api.serveClaimedRegistries: true to serve it",
				"registry", reg.Name)
		}
	}
	s.handler.SetRegistries(names, refused)
}

// SetRegistries is the reload's: the API's set of registries and the
// views follow the new registries at once.
func (s *servedRegistries) SetRegistries(ctx context.Context, regs []config.Registry) error {
	s.serve(regs)
	s.merger.SetRegistries(regs)
	return s.views.SetRegistries(ctx, regs)
}

// run runs every part of the pipeline until ctx is done or one of them
// fails, then shuts the HTTP server down. The service is ready once the
// startup triggers are published.
func (s *pipeline) run(ctx context.Context) error {
	grp, gctx := errgroup.WithContext(ctx)
	grp.Go(func() error { return s.coord.Run(gctx) })
	grp.Go(func() error { return s.interval.Run(gctx) })
	grp.Go(func() error { return s.statusWatch.Run(gctx) })
	grp.Go(func() error { return s.files.Run(gctx) })
	grp.Go(func() error { return s.refs.Run(gctx) })
	grp.Go(func() error { return s.polls.Run(gctx) })
	grp.Go(func() error { return s.reloader.Run(gctx) })
	grp.Go(func() error { return s.registries.views.Run(gctx) })
	grp.Go(func() error { return s.registries.merger.Run(gctx) })
	grp.Go(func() error { return s.registries.changes.Run(gctx) })
	grp.Go(func() error {
		<-s.registries.views.Loaded()
		s.logger.Info("registry views loaded")
		return nil
	})
	grp.Go(func() error {
		return serveHTTP(gctx, s.logger, "http", s.srv, s.ln, func() { s.ready.stopping.Store(true) })
	})
	if s.apiSrv != nil {
		grp.Go(func() error { return serveHTTP(gctx, s.logger, "api", s.apiSrv, s.apiLn, func() {}) })
	}
	grp.Go(func() error {
		srcs := s.cfg.SyncedSources()
		n, err := coordinator.Startup(gctx, s.conn.h.Publisher, s.status, srcs, s.logger)
		if err != nil {
			s.logger.Error("startup triggers", "err", err)
		}
		s.logger.Info("regsync ready", "sources", len(srcs), "startup_triggers", n)
		s.ready.started.Store(true)
		return nil
	})
	return grp.Wait()
}

// serveHTTP serves srv on ln until ctx is done, then calls stopping and
// shuts the server down. name names the listener in the log ("http
// listening", "api listening") and in errors.
func serveHTTP(ctx context.Context, logger *slog.Logger, name string, srv *http.Server, ln net.Listener, stopping func()) error {
	served := make(chan error, 1)
	go func() {
		logger.Info(name+" listening", "addr", ln.Addr().String())
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			served <- fmt.Errorf("%s: %w", name, err)
			return
		}
		served <- nil
	}()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	stopping()
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	return errors.Join(err, <-served)
}

// traced runs h in a server span that continues the caller's trace, if
// the request carries one (a forge or a proxy that sends traceparent).
func traced(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, span := tracing.Tracer().Start(tracing.ExtractHTTP(r.Context(), r.Header), r.Method+" "+r.URL.Path,
			trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// readiness is what /readyz answers from: the startup triggers are
// published, shutdown has not begun (it never ends), the registry views
// are loaded (views is closed) and the coordinator consumes triggers.
type readiness struct {
	started, stopping atomic.Bool
	views             <-chan struct{}
	consuming         func() error
}

// err returns nil when ready, else why not.
func (r *readiness) err() error {
	switch {
	case r.stopping.Load():
		return errors.New("shutting down")
	case !r.started.Load():
		return errors.New("starting")
	}
	select {
	case <-r.views:
	default:
		return errors.New("registry views not loaded")
	}
	return r.consuming()
}

// httpHandler routes http.addr: webhooks, health, metrics and, unless
// readAPI is nil (it has a listener of its own), the read API.
func httpHandler(nc *nats.Conn, ready *readiness, reg *prometheus.Registry, hooks, readAPI http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(webhook.PathPrefix, traced(hooks))
	if readAPI != nil {
		mux.Handle("/registry/", readAPI)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		switch {
		case !nc.IsConnected():
			http.Error(w, "not ready: nats "+nc.Status().String(), http.StatusServiceUnavailable)
		default:
			if err := ready.err(); err != nil {
				http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
			fmt.Fprintln(w, "ready")
		}
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}
