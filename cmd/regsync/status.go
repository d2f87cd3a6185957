package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/regsync/regsync/events"
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

	keys := make([]string, 0, len(records))
	for k := range records {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if len(names) == 1 {
			return enc.Encode(records[names[0]])
		}
		return enc.Encode(records)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tPHASE\tSERVERS\tREVISION\tLAST SYNC\tFAILURES\tREASON\tMESSAGE")
	for _, k := range keys {
		st := records[k]
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%d\t%s\t%s\n", k, st.Phase, st.ServerCount, short(st.Revision),
			ago(st.LastSyncTime), st.AttemptCount, st.LastReason, oneLine(st.Message))
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
