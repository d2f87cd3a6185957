package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

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

	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if len(names) == 1 {
			return enc.Encode(records[names[0]])
		}
		return enc.Encode(records)
	}
	return printStatusTable(stdout, records)
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
