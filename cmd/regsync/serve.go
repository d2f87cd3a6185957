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
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/bus"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/reload"
	"github.com/regsync/regsync/internal/sources"
	"github.com/regsync/regsync/internal/syncer"
	"github.com/regsync/regsync/internal/syncer/coordinator"
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
	// A receiver without its secret would stay off while /readyz says
	// ready: refuse to start instead.
	if err := webhook.CheckSecrets(cfg.Webhooks, cfg.Sources); err != nil {
		return fmt.Errorf("load config %s: %w", g.config, err)
	}
	return serve(ctx, logger, g, g.config, cfg)
}

func serve(ctx context.Context, logger *slog.Logger, g *globals, configPath string, cfg *config.Config) error {
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
	copts, err := g.connectOptions(cfg)
	if err != nil {
		return err
	}
	copts.Logger = logger
	replicas := cfg.NATS.Replicas
	if copts.URL == "" {
		storeDir := cfg.EmbeddedStoreDir()
		user, password, err := embeddedAuth(cfg, true)
		if err != nil {
			return err
		}
		if password == "" {
			logger.Warn("the embedded nats-server accepts any client that reaches its listener (nats.embedded.auth is false): anyone on this machine can forge results, status and snapshots",
				"listen", cfg.NATS.Embedded.Listen)
		}
		emb, err := bus.StartEmbedded(bus.EmbeddedOptions{StoreDir: storeDir, Listen: cfg.NATS.Embedded.Listen, User: user, Password: password})
		if err != nil {
			return err
		}
		defer emb.Shutdown()
		copts.Embedded = emb
		copts.User, copts.Password = user, password
		replicas = 1
		attrs := []any{"store_dir", storeDir, "client_url", emb.ClientURL(), "auth", password != ""}
		if password != "" && cfg.NATS.User == "" {
			attrs = append(attrs, "user", user, "password_file", cfg.EmbeddedPasswordFile())
		}
		logger.Info("embedded nats-server started", attrs...)
	}
	nc, err := bus.Connect(copts)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	mode, err := events.ParseContentMode(cfg.Events.ContentMode)
	if err != nil {
		return err
	}
	h, err := bus.Ensure(ctx, js, bus.Resources{
		Replicas: replicas,
		LeaseTTL: cfg.Sync.LeaseTTL,
		Results: bus.Retention{
			MaxAge:            cfg.NATS.Results.MaxAge,
			MaxBytes:          cfg.NATS.Results.MaxBytes.Int64(),
			MaxMsgsPerSubject: cfg.NATS.Results.MaxMsgsPerSubject,
		},
		ContentMode: mode,
		Logger:      logger,
	})
	if err != nil {
		return err
	}
	logger.Info("deployment", "id", h.Deployment, "content_mode", string(mode))

	reg := prometheus.NewRegistry()
	metrics := newServeMetrics(reg, nc, h.Status, cfg.SyncedSources())
	snapshots := writer.New(h.Data)
	status := state.NewStore(h.Status)
	// One fetcher for workers and pollers: it keeps the git clones and the
	// last HTTP responses that make unchanged checks cheap.
	fetcher := &sources.Fetcher{MaxSize: cfg.Sync.MaxDataSize.Int64(), DataDir: cfg.DataDir, Logger: logger, Version: version,
		Checks: metrics.checks}
	mgr := syncer.NewManager(fetcher, snapshots, logger)
	holder, err := coordinator.ReplicaID(cfg.DataDir)
	if err != nil {
		hostname, _ := os.Hostname()
		holder = fmt.Sprintf("%s/%d", hostname, os.Getpid())
		logger.Warn("no stable replica identity, leases of a crashed run will have to expire", "err", err, "holder", holder)
	}
	coord := coordinator.New(h, mgr, status, cfg.SyncedSources(), coordinator.Options{
		Workers:     cfg.Sync.Workers,
		LeaseTTL:    cfg.Sync.LeaseTTL,
		SyncTimeout: cfg.Sync.Timeout,
		Holder:      holder,
		Source:      h.Publisher.Source(events.ProducerCoordinator),
		Logger:      logger,
		Metrics:     metrics.coord,
	})
	for _, s := range cfg.Sources {
		if !s.Synced() {
			logger.Warn("source is not synced by regsync", "source", s.Name, "type", s.Type())
		}
	}

	hooks := webhook.New(h.Publisher, cfg.Webhooks, cfg.SyncedSources(), webhook.Options{
		MaxBody:       cfg.Webhooks.MaxBodySize.Int64(),
		MaxUnverified: cfg.Webhooks.MaxUnverifiedBytes.Int64(),
		RatePerSecond: cfg.Webhooks.RateLimit.PerSecond,
		Burst:         cfg.Webhooks.RateLimit.Burst,
	}, logger)
	if enabled := hooks.Enabled(); len(enabled) > 0 {
		logger.Info("webhooks enabled", "providers", enabled)
	}
	var ready atomic.Bool
	srv := &http.Server{
		Addr:    cfg.HTTP.Addr,
		Handler: httpHandler(nc, &ready, reg, instrumentWebhooks(metrics.webhooks, hooks)),
		// Slow clients cannot hold connections open.
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("http listen %s: %w", cfg.HTTP.Addr, err)
	}

	interval := coordinator.NewInterval(h.Publisher, h.Status, cfg.SyncedSources(), logger)
	files := watch.NewFileWatcher(h.Publisher, cfg.Watch.Debounce, logger)
	files.SetSources(cfg.SyncedSources())
	refs := watch.NewGitPoller(h.Publisher, fetcher, cfg.Watch.GitPollInterval, logger)
	refs.SetSources(cfg.SyncedSources())
	polls := watch.NewHTTPPoller(h.Publisher, fetcher, cfg.Watch.HTTPPollInterval, logger)
	polls.SetSources(cfg.SyncedSources())
	reloader := reload.New(configPath, cfg, func(ctx context.Context, old, next *config.Config) error {
		coord.SetSources(next.SyncedSources())
		metrics.status.SetSources(next.SyncedSources())
		interval.SetSources(next.SyncedSources())
		files.SetSources(next.SyncedSources())
		refs.SetSources(next.SyncedSources())
		polls.SetSources(next.SyncedSources())
		hooks.SetSources(next.SyncedSources(), next.Webhooks)
		changes := coordinator.Diff(old.Sources, next.Sources)
		for _, s := range changes.Removed {
			logger.Info("source removed: no longer synced, snapshot kept", "source", s.Name)
		}
		return coordinator.ApplyReload(ctx, h.Publisher, status, changes)
	}, logger)
	reloader.Reloads = metrics.reloads

	grp, gctx := errgroup.WithContext(ctx)
	grp.Go(func() error { return coord.Run(gctx) })
	grp.Go(func() error { return interval.Run(gctx) })
	grp.Go(func() error { return metrics.status.Run(gctx) })
	grp.Go(func() error { return files.Run(gctx) })
	grp.Go(func() error { return refs.Run(gctx) })
	grp.Go(func() error { return polls.Run(gctx) })
	grp.Go(func() error { return reloader.Run(gctx) })
	grp.Go(func() error {
		logger.Info("http listening", "addr", ln.Addr().String())
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http: %w", err)
		}
		return nil
	})
	grp.Go(func() error {
		<-gctx.Done()
		ready.Store(false)
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(gctx), 10*time.Second)
		defer cancel()
		return srv.Shutdown(shutdownCtx)
	})
	grp.Go(func() error {
		n, err := coordinator.Startup(gctx, h.Publisher, status, cfg.SyncedSources())
		if err != nil {
			logger.Error("startup triggers", "err", err)
		}
		logger.Info("regsync ready", "sources", len(cfg.SyncedSources()), "startup_triggers", n)
		ready.Store(true)
		return nil
	})
	err = grp.Wait()
	logger.Info("regsync stopped")
	if err := nc.Drain(); err != nil {
		logger.Warn("nats drain", "err", err)
	}
	return err
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

func httpHandler(nc *nats.Conn, ready *atomic.Bool, reg *prometheus.Registry, hooks http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(webhook.PathPrefix, traced(hooks))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		switch {
		case !nc.IsConnected():
			http.Error(w, "not ready: nats "+nc.Status().String(), http.StatusServiceUnavailable)
		case !ready.Load():
			http.Error(w, "not ready: starting", http.StatusServiceUnavailable)
		default:
			fmt.Fprintln(w, "ready")
		}
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}
