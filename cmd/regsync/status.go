package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/printable"
	"github.com/regsync/regsync/internal/syncer/state"
)

func statusCmd(ctx context.Context, g *globals, args []string, stdout, stderr io.Writer) error {
	fs := g.flagSet("status")
	output := fs.String("o", "table", "output format: table or json")
	names, err := g.parse(fs, args, stderr)
	if err != nil {
		return err
	}
	if len(names) > 1 {
		return fmt.Errorf("%w: status takes at most one SOURCE", errUsage)
	}
	if *output != "table" && *output != "json" {
		return fmt.Errorf("%w: -o %q: want table or json", errUsage, *output)
	}
	nc, js, err := g.connectClient()
	if err != nil {
		return err
	}
	defer nc.Close()
	kv, err := js.KeyValue(ctx, events.BucketStatus)
	if err != nil {
		return fmt.Errorf("open %s: %w", events.BucketStatus, err)
	}
	logger, err := g.logger(stderr)
	if err != nil {
		return err
	}
	store := state.NewStore(kv, logger)
	records := map[string]*state.Status{}
	if len(names) == 1 {
		st, _, err := store.Get(ctx, names[0])
		if err != nil {
			return err
		}
		if st == nil {
			return fmt.Errorf("no status for source %q", names[0])
		}
		records[names[0]] = st
	} else if records, err = store.List(ctx); err != nil {
		return err
	}

	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if len(names) == 1 {
		if *output == "json" {
			return enc.Encode(records[names[0]])
		}
		return printStatusTable(stdout, records)
	}
	registries, err := listRegistries(ctx, js, logger)
	if err != nil {
		return err
	}
	if *output == "json" {
		return enc.Encode(struct {
			Sources    map[string]*state.Status `json:"sources"`
			Registries []namedRegistry          `json:"registries"`
		}{records, registries})
	}
	if err := printStatusTable(stdout, records); err != nil {
		return err
	}
	if len(registries) == 0 {
		return nil
	}
	fmt.Fprintln(stdout)
	return printRegistryTable(stdout, registries)
}

// namedRegistry is a registry's status record with its name.
type namedRegistry struct {
	Name string `json:"name"`
	events.RegistryStatus
}

// listRegistries reads every record of regsync_registry_status, sorted by
// name. A record that does not decode is left out with a warning, as a
// source's is; without the bucket (a serve of before registries) there
// are none.
func listRegistries(ctx context.Context, js jetstream.JetStream, log *slog.Logger) ([]namedRegistry, error) {
	kv, err := js.KeyValue(ctx, events.BucketRegistryStatus)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", events.BucketRegistryStatus, err)
	}
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", events.BucketRegistryStatus, err)
	}
	out := []namedRegistry{}
	for key := range lister.Keys() {
		e, err := kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read status of registry %s: %w", key, err)
		}
		r := namedRegistry{Name: key}
		if err := json.Unmarshal(e.Value(), &r.RegistryStatus); err != nil {
			log.Warn("registry status record does not decode; left out", "registry", key, "err", err)
			continue
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b namedRegistry) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// printRegistryTable writes one line per registry: its generation,
// servers, Ready and Degraded, the sources in their order (with the phase
// of any that is not Complete) and what a condition says, escaped like
// the sources' lines.
func printRegistryTable(w io.Writer, registries []namedRegistry) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REGISTRY\tGENERATION\tSERVERS\tREADY\tDEGRADED\tSOURCES\tMESSAGE")
	for _, r := range registries {
		srcs := make([]string, 0, len(r.Sources))
		for _, s := range r.Sources {
			if s.Phase != "" && s.Phase != events.PhaseComplete {
				srcs = append(srcs, s.Name+"("+string(s.Phase)+")")
				continue
			}
			srcs = append(srcs, s.Name)
		}
		ready, _ := r.Condition(events.ConditionReady)
		degraded, _ := r.Condition(events.ConditionDegraded)
		var msg string
		switch {
		case degraded.Status == state.ConditionTrue:
			msg = degraded.Message
		case ready.Status != state.ConditionTrue:
			msg = ready.Message
		}
		fields := []string{r.Name, strconv.FormatUint(r.Generation, 10), strconv.Itoa(r.ServerCount),
			orDash(ready.Status), orDash(degraded.Status), strings.Join(srcs, ","), oneLine(msg)}
		for i, f := range fields {
			fields[i] = printable.String(f)
		}
		fmt.Fprintln(tw, strings.Join(fields, "\t"))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// printStatusTable writes one line per source, sorted by name. Every
// field goes through printable.String: a message quotes what a remote
// said.
func printStatusTable(w io.Writer, records map[string]*state.Status) error {
	keys := slices.Sorted(maps.Keys(records))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tPHASE\tSERVERS\tREVISION\tLAST SYNC\tFAILURES\tREASON\tMESSAGE")
	for _, k := range keys {
		st := records[k]
		fields := []string{k, string(st.Phase), strconv.Itoa(st.ServerCount), short(st.Revision),
			ago(st.LastSyncTime), strconv.Itoa(st.AttemptCount), st.LastReason, oneLine(st.Message)}
		for i, f := range fields {
			fields[i] = printable.String(f)
		}
		fmt.Fprintln(tw, strings.Join(fields, "\t"))
	}
	return tw.Flush()
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	if rev == "" {
		return "-"
	}
	return rev
}

func ago(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return time.Since(*t).Round(time.Second).String() + " ago"
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if r := []rune(s); len(r) > 100 {
		return string(r[:97]) + "..."
	}
	return s
}
