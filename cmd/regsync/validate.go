package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/printable"
	"github.com/regsync/regsync/internal/registry"
	"github.com/regsync/regsync/internal/sources"
	"github.com/regsync/regsync/internal/webhook"
)

func validateCmd(ctx context.Context, g *globals, args []string, stdout, stderr io.Writer) error {
	fs := g.flagSet("validate")
	fetch := fs.Bool("fetch", false, "also fetch, validate and filter every source once")
	if _, err := g.parse(fs, args, stderr); err != nil {
		return err
	}
	if g.config == "" {
		return fmt.Errorf("%w: validate needs --config FILE", errUsage)
	}
	cfg, warnings, err := config.Load(g.config)
	for _, w := range warnings {
		fmt.Fprintln(stderr, "warning:", printable.String(fmt.Sprint(w)))
	}
	if err != nil {
		return err
	}
	if err := cfg.CheckFiles(); err != nil {
		return fmt.Errorf("load config %s: %w", g.config, err)
	}
	if err := webhook.CheckSecrets(cfg.Webhooks, cfg.Sources); err != nil {
		return fmt.Errorf("%s: %w", g.config, err)
	}
	fmt.Fprintf(stdout, "%s: valid, %d sources (%d synced)\n", g.config, len(cfg.Sources), len(cfg.SyncedSources()))
	printRegistries(stdout, cfg)
	if !*fetch {
		return nil
	}
	log, _ := g.logger(stderr) // checked by parse
	f := &sources.Fetcher{MaxSize: cfg.Sync.MaxDataSize.Int64(), Logger: log, Version: version}
	failed := 0
	for _, src := range cfg.SyncedSources() {
		if err := fetchOne(ctx, f, src, stdout); err != nil {
			failed++
			fmt.Fprintf(stdout, "  %s: %s\n", src.Name, printable.String(err.Error()))
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d sources failed", failed, len(cfg.SyncedSources()))
	}
	return nil
}

// fetchOne fetches, validates and filters a source as a sync does, and
// prints its counts before and after the filter. A filter that keeps
// nothing of a source that has entries fails, as the sync would.
func fetchOne(ctx context.Context, f *sources.Fetcher, src config.Source, stdout io.Writer) error {
	fetched, err := f.Fetch(ctx, src)
	if err != nil {
		return err
	}
	built, err := registry.Build(fetched.Raw, src.Filter)
	if err != nil {
		return err
	}
	if err := registry.CheckKept(built.Source, built.Kept()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "  %s: ok, %s in the source, %s after filtering (hash %s)\n",
		src.Name, built.Source, built.Kept(), fetched.Hash[:12])
	return nil
}

// printRegistries prints each registry regsync keeps, with its sources in
// order of precedence.
func printRegistries(w io.Writer, cfg *config.Config) {
	note := ""
	if len(cfg.Registries) == 0 {
		note = " (no registries section: one per synced source)"
	}
	for _, r := range cfg.EffectiveRegistries() {
		fmt.Fprintf(w, "  registry %s: %s%s\n", r.Name, strings.Join(r.Sources, ", "), note)
	}
}
