// Package reload re-reads regsync's configuration while it runs: on SIGHUP
// and whenever the configuration file changes (including a Kubernetes
// ConfigMap update). A new configuration that does not load is rejected
// with a clear log line and the running one stays; an accepted one is
// handed to the pipeline, which adds, re-filters and removes sources.
//
// Its Applier is also a producer: it publishes a sync.requested trigger
// for each source a reload adds or changes (trigger kind startup, see
// Applier.publish), and marks removed sources in regsync_status.
package reload

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/regsync/regsync/internal/config"
)

// Apply puts an accepted configuration into effect.
type Apply func(ctx context.Context, old, new *config.Config) error

// Reloader watches one configuration file.
type Reloader struct {
	// Reloads, if set, counts reloads by result: applied, rejected (the
	// file does not load), partial (applied with errors).
	Reloads *prometheus.CounterVec

	path     string
	apply    Apply
	logger   *slog.Logger
	debounce time.Duration

	current *config.Config
	raw     []byte

	// ready, if set, is called once Run listens for SIGHUP and watches
	// the file: a test sends neither before.
	ready func()
}

// New returns a Reloader for the file at path, currently loaded as cfg.
func New(path string, cfg *config.Config, apply Apply, logger *slog.Logger) *Reloader {
	raw, _ := config.ReadFile(path)
	return &Reloader{path: path, apply: apply, logger: logger, debounce: 100 * time.Millisecond, current: cfg, raw: raw}
}

// Run reloads on SIGHUP and on changes of the file until ctx is done.
func (r *Reloader) Run(ctx context.Context) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	abs, err := filepath.Abs(r.path)
	if err != nil {
		return fmt.Errorf("config path %s: %w", r.path, err)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch config: %w", err)
	}
	defer w.Close()
	dir := filepath.Dir(abs)
	if err := w.Add(dir); err != nil {
		return fmt.Errorf("watch config directory %s: %w", dir, err)
	}
	if r.ready != nil {
		r.ready()
	}

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			r.logger.Info("SIGHUP: reloading configuration", "path", r.path)
			r.reload(ctx, true)
		case ev, ok := <-w.Events:
			if !ok {
				return fmt.Errorf("watch config %s: the file watcher stopped", r.path)
			}
			// The file itself, or a ConfigMap's ..data symlink swap.
			if base := filepath.Base(ev.Name); base == filepath.Base(abs) || strings.HasPrefix(base, "..data") {
				timer.Reset(r.debounce)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return fmt.Errorf("watch config %s: the file watcher stopped", r.path)
			}
			r.logger.Warn("config watch error, checking the file", "err", err)
			timer.Reset(r.debounce)
		case <-timer.C:
			r.reload(ctx, false)
		}
	}
}

// NewMetrics registers the counter of configuration reloads.
func NewMetrics(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "regsync_config_reloads_total",
		Help: "Configuration reloads, by result: applied, partial (applied with errors) or rejected.",
	}, []string{"result"})
	reg.MustRegister(c)
	for _, result := range []string{"applied", "partial", "rejected"} {
		c.WithLabelValues(result) // from the start, at zero
	}
	return c
}

func (r *Reloader) count(result string) {
	if r.Reloads != nil {
		r.Reloads.WithLabelValues(result).Inc()
	}
}

// reload loads the file and applies it if it changed (or if forced).
func (r *Reloader) reload(ctx context.Context, force bool) {
	raw, err := config.ReadFile(r.path)
	if err != nil {
		r.logger.Error("config reload rejected, keeping the running configuration", "path", r.path, "err", err)
		r.count("rejected")
		return
	}
	if !force && bytes.Equal(raw, r.raw) {
		return
	}
	next, warnings, err := config.Parse(raw)
	if err == nil {
		err = next.CheckFiles()
	}
	if err != nil {
		r.logger.Error("config reload rejected, keeping the running configuration", "path", r.path, "err", err)
		r.count("rejected")
		return
	}
	for _, w := range warnings {
		r.logger.Warn(w)
	}
	for _, section := range RestartSections(r.current, next) {
		r.logger.Warn("configuration section changed; restart regsync to apply it", "section", section)
	}
	if err := r.apply(ctx, r.current, next); err != nil {
		r.logger.Error("config reload applied with errors", "err", err)
		r.count("partial")
	} else {
		r.count("applied")
	}
	r.current, r.raw = next, raw
	r.logger.Info("configuration reloaded", "path", r.path, "sources", len(next.Sources))
}

// RestartSections names the sections whose change takes effect only after
// a restart: every section but the sources, the registries (views of the
// sources, which follow the applied configuration) and the webhook
// secrets, which the Applier puts into effect live. The webhooks section is named field
// by field, so the limits beside the secrets are named alone.
func RestartSections(old, new *config.Config) []string {
	var out []string
	a, b := reflect.ValueOf(old).Elem(), reflect.ValueOf(new).Elem()
	for i := range a.NumField() {
		name := yamlName(a.Type().Field(i))
		switch name {
		case "sources", "registries":
			continue
		case "webhooks":
			out = append(out, restartWebhookFields(a.Field(i), b.Field(i))...)
			continue
		}
		if !reflect.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()) {
			out = append(out, name)
		}
	}
	return out
}

// restartWebhookFields names the fields of two webhooks sections that
// differ, less the secrets.
func restartWebhookFields(a, b reflect.Value) []string {
	var out []string
	for i := range a.NumField() {
		switch a.Field(i).Interface().(type) {
		case config.WebhookSecret, config.WebhookToken:
			continue
		}
		if !reflect.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()) {
			out = append(out, "webhooks."+yamlName(a.Type().Field(i)))
		}
	}
	return out
}

// yamlName is the key of a configuration field.
func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name
}
