package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/printable"
)

func watchCmd(ctx context.Context, g *globals, args []string, stdout, stderr io.Writer) error {
	fs := g.flagSet("watch")
	output := fs.String("o", "text", "output format: text or json")
	since := fs.Duration("since", 0, "first replay the results of the last `DURATION` (such as 30m or 24h)")
	all := fs.Bool("all", false, "first replay every result REGSYNC_RESULTS still holds")
	onlyRegistries := fs.Bool("registries", false, "show registry changes only (with NAME: those of registry NAME)")
	names, err := g.parse(fs, args, stderr)
	if err != nil {
		return err
	}
	if len(names) > 1 {
		return fmt.Errorf("%w: watch takes at most one SOURCE (or REGISTRY with --registries)", errUsage)
	}
	if *output != "text" && *output != "json" {
		return fmt.Errorf("%w: -o %q: want text or json", errUsage, *output)
	}
	if *since < 0 {
		return fmt.Errorf("%w: --since %s: want a positive duration", errUsage, *since)
	}
	if *since > 0 && *all {
		return fmt.Errorf("%w: give --since or --all, not both", errUsage)
	}
	subjects, show, err := watched(names, *onlyRegistries)
	if err != nil {
		return err
	}
	subject := strings.Join(subjects, " and ")
	nc, js, err := g.connectClient()
	if err != nil {
		return err
	}
	defer nc.Close()

	// One ordered consumer replays what was asked for and then follows
	// new results, with nothing lost or repeated in between, even when
	// it has to be made again. Reading the stream first also says clearly
	// when serve has never run.
	results, err := readResults(ctx, js)
	if err != nil {
		return fmt.Errorf("watch %s: %w", subject, err)
	}
	cfg := fromSequence(subjects, results.State.LastSeq+1)
	switch {
	case *all:
		cfg = fromSequence(subjects, 1)
	case *since > 0:
		start := time.Now().Add(-*since)
		cfg = jetstream.OrderedConsumerConfig{FilterSubjects: subjects, DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &start}
	}
	fmt.Fprintf(stderr, "watching %s (Ctrl-C to stop)\n", subject)
	err = follow(ctx, js, cfg, func(msg jetstream.Msg) bool {
		ev, err := events.Decode(msg.Headers(), msg.Data())
		switch {
		case err != nil:
			fmt.Fprintln(stderr, printable.String(fmt.Sprintf("skipping undecodable message on %s: %v", msg.Subject(), err)))
		case !show(ev):
		case *output == "json":
			out, _ := json.Marshal(ev)
			fmt.Fprintln(stdout, string(out))
		default:
			fmt.Fprintln(stdout, resultLine(ev))
		}
		return true
	})
	if ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return fmt.Errorf("watch %s: %w", subject, err)
	}
	return nil
}

// watched returns the subjects watch follows and which of their events
// it shows. By default: every source's results and every registry's
// changes. With a source NAME: that source's results, and the changes of
// registry NAME and of every registry whose listed causes name the
// source, so the registries its syncs changed are not hidden. With
// --registries: registry changes only, those of registry NAME if given.
func watched(names []string, onlyRegistries bool) ([]string, func(event.Event) bool, error) {
	every := func(event.Event) bool { return true }
	switch {
	case len(names) == 0 && onlyRegistries:
		return []string{events.AllRegistryChanges}, every, nil
	case len(names) == 0:
		return []string{events.AllResults, events.AllRegistryChanges}, every, nil
	case onlyRegistries:
		if !events.ValidSourceName(names[0]) {
			return nil, nil, fmt.Errorf("%w: %q is not a valid registry name", errUsage, names[0])
		}
		return []string{events.RegistrySubject(names[0])}, every, nil
	}
	name := names[0]
	if !events.ValidSourceName(name) {
		return nil, nil, fmt.Errorf("%w: %q is not a valid source name", errUsage, name)
	}
	show := func(ev event.Event) bool {
		if ev.Type() != events.TypeRegistryChanged || ev.Subject() == name {
			return true
		}
		d, err := events.DecodeData[events.RegistryChanged](ev)
		return err == nil && slices.ContainsFunc(d.Causes, func(c events.Cause) bool { return c.Source == name })
	}
	return []string{events.SourceResults(name), events.AllRegistryChanges}, show, nil
}

// resultLine is one result as a line for people: time, source, outcome,
// reason, counts, diff and duration, with what a remote may have put in a
// message or a name escaped (see printable).
func resultLine(ev event.Event) string { return printable.String(resultText(ev)) }

func resultText(ev event.Event) string {
	ts := ev.Time().Local().Format(time.TimeOnly)
	d, err := events.DataOf(ev)
	if err != nil {
		return fmt.Sprintf("%s  %s  %s  (undecodable data: %v)", ts, ev.Subject(), ev.Type(), err)
	}
	switch r := d.(type) {
	case events.SyncCompleted:
		added, updated, removed := r.Diff.Counts()
		return fmt.Sprintf("%s  %-20s completed  %-30s servers=%d skills=%d plugins=%d  +%d ~%d -%d%s  %dms",
			ts, r.Source, r.Reason, r.ServerCount, r.SkillCount, r.PluginCount,
			added, updated, removed, diffNames(r.Diff), r.DurationMs)
	case events.SyncFailed:
		return fmt.Sprintf("%s  %-20s failed     %-30s %s/%s attempt=%d  %s",
			ts, r.Source, r.Reason, r.ConditionType, r.ConditionReason, r.AttemptCount, oneLine(r.Message))
	case events.SyncSkipped:
		return fmt.Sprintf("%s  %-20s skipped    %-30s triggers=%d", ts, r.Source, r.Reason, r.TriggerCount)
	case events.RegistryChanged:
		added, updated, removed := r.Diff.Counts()
		return fmt.Sprintf("%s  %-20s registry   %-30s generation=%d servers=%d skills=%d plugins=%d  +%d ~%d -%d%s  causes=%s",
			ts, r.Registry, r.Reason, r.Generation, r.ServerCount, r.SkillCount, r.PluginCount,
			added, updated, removed, diffNames(r.Diff.Diff), causesText(r))
	}
	return fmt.Sprintf("%s  %s  %s", ts, ev.Subject(), ev.Type())
}

// causesText lists the sources and revisions a generation came from:
// "internal@6113728f27ae,upstream", "-" for none.
func causesText(r events.RegistryChanged) string {
	if r.CauseCount == 0 {
		return "-"
	}
	parts := make([]string, 0, len(r.Causes))
	for _, c := range r.Causes {
		if c.Revision == "" {
			parts = append(parts, c.Source)
			continue
		}
		parts = append(parts, c.Source+"@"+short(c.Revision))
	}
	s := strings.Join(parts, ",")
	if more := r.CauseCount - len(r.Causes); more > 0 {
		s += fmt.Sprintf(" and %d more", more)
	}
	return s
}

// diffNames lists a few changed names.
func diffNames(d events.Diff) string {
	var parts []string
	add := func(sign string, names []string) {
		for _, n := range names {
			if len(parts) == 3 {
				return
			}
			parts = append(parts, sign+n)
		}
	}
	add("+", d.Added)
	add("~", d.Updated)
	add("-", d.Removed)
	if len(parts) == 0 {
		return ""
	}
	more := len(d.Added) + len(d.Updated) + len(d.Removed) - len(parts)
	s := " (" + strings.Join(parts, " ")
	if more > 0 {
		s += fmt.Sprintf(" and %d more", more)
	}
	return s + ")"
}
