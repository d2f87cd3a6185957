// Command regsync-chaos is regsync's fault suite. It runs real processes on
// loopback (nats-server nodes and regsync replicas, each with its own data
// directory and configuration), rewrites registry files with valid and
// invalid data, asks for manual syncs, and injects faults: kill -9 and
// SIGTERM of replicas, kill -9 of the NATS nodes leading the meta group and
// the streams, whole-cluster restarts, and kill -9 of an embedded-NATS
// regsync with syncs in flight. It watches everything from the outside,
// through NATS alone, and fails when a change is lost, two syncs of a
// source overlap, a recorded sync is never announced completed, a result
// id is published with two contents, a manual request goes unanswered,
// invalid data is stored, or a write waits longer than its target. Every
// deployment has two registries over overlapping sources; it fails when a
// registry's stored object is not the model merge of its sources'
// snapshots, its status record disagrees with the object, or its
// generations are not announced exactly once each with one content.
//
// It needs a nats-server binary and a regsync binary; `make chaos` builds
// both. Every process and directory it starts is removed when it ends,
// also on failure and on Ctrl-C.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// options are the suite's flags.
type options struct {
	natsServer, regsync string
	scenarios           string
	keep                bool
	timeout             time.Duration

	sources      int
	size         int
	rate         float64
	invalid      float64
	requestEvery time.Duration
	duration     time.Duration
	cDuration    time.Duration
	rounds       int
	bSources     int
	bSize        int
	sChanges     int
	converge     time.Duration
}

// env is what every scenario shares: the binaries, the run directory and
// the processes started.
type env struct {
	dir                 string
	natsServer, regsync string
	host                string
	out                 io.Writer
	procs               procs
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// A reader of the output that goes away (| head) must not kill the
	// suite before it cleans up: with SIGPIPE caught, a write to a closed
	// pipe only fails. Caught, not ignored, so that children do not
	// inherit it.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "regsync-chaos:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o := &options{}
	fs := flag.NewFlagSet("regsync-chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.natsServer, "nats-server", "", "nats-server binary (required)")
	fs.StringVar(&o.regsync, "regsync", "", "regsync binary (required)")
	fs.StringVar(&o.scenarios, "scenarios", "a,b,c,s", "scenarios to run, comma-separated: a (cluster faults), b (embedded kill -9 rounds), c (whole-cluster restarts), s (results per change with 1, 2 and 3 replicas)")
	fs.DurationVar(&o.timeout, "timeout", 15*time.Minute, "stop the suite, as on Ctrl-C, after this long")
	fs.BoolVar(&o.keep, "keep", false, "keep the run directory (logs, configurations, data) instead of removing it")
	fs.IntVar(&o.sources, "sources", 12, "file sources in scenarios a and c")
	fs.IntVar(&o.size, "size", 16<<10, "bytes per registry in scenarios a and c")
	fs.Float64Var(&o.rate, "rate", 6, "registry writes per second, over all sources, in scenarios a and c")
	fs.Float64Var(&o.invalid, "invalid", 0.2, "fraction of writes with invalid data")
	fs.DurationVar(&o.requestEvery, "request-every", 2*time.Second, "pause between `regsync sync --wait` requests in scenarios a and c")
	fs.DurationVar(&o.duration, "duration", 80*time.Second, "churn and faults in scenario a")
	fs.DurationVar(&o.cDuration, "c-duration", 45*time.Second, "churn and restarts in scenario c")
	fs.IntVar(&o.rounds, "rounds", 6, "kill -9 rounds in scenario b")
	fs.IntVar(&o.bSources, "b-sources", 20, "file sources in scenario b")
	fs.IntVar(&o.bSize, "b-size", 256<<10, "bytes per registry in scenario b")
	fs.IntVar(&o.sChanges, "s-changes", 6, "file changes (one source each) per replica count in scenario s")
	fs.DurationVar(&o.converge, "converge", 60*time.Second, "how long to wait for the last writes to be synced before calling them lost")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := o.validate(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	scenarios := map[string]func(context.Context, *env, *options) *report{"a": scenarioA, "b": scenarioB, "c": scenarioC, "s": scenarioS}
	var names []string
	for _, n := range strings.Split(o.scenarios, ",") {
		n = strings.TrimSpace(n)
		if scenarios[n] == nil {
			return fmt.Errorf("-scenarios: unknown scenario %q (want a, b, c or s)", n)
		}
		names = append(names, n)
	}

	dir, err := os.MkdirTemp("", "regsync-chaos-")
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	e := &env{dir: dir, natsServer: o.natsServer, regsync: o.regsync, host: host, out: stdout}
	defer func() {
		e.procs.KillAll()
		if o.keep {
			fmt.Fprintf(stdout, "\nrun directory kept: %s\n", dir)
			return
		}
		_ = os.RemoveAll(dir)
	}()

	start := time.Now()
	var failed []string
	for _, n := range names {
		r := scenarios[n](ctx, e, o)
		e.procs.KillAll()
		fmt.Fprintf(stdout, "  scenario %s took %.0fs\n", n, time.Since(r.start).Seconds())
		if len(r.failures) > 0 {
			failed = append(failed, fmt.Sprintf("%s (%d)", n, len(r.failures)))
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w after %.0fs (-timeout %s)", errInterrupted, time.Since(start).Seconds(), o.timeout)
		}
	}
	fmt.Fprintf(stdout, "\nsuite took %.0fs; ", time.Since(start).Seconds())
	if len(failed) > 0 {
		fmt.Fprintf(stdout, "failed checks in scenario %s\n", strings.Join(failed, ", "))
		return errors.New("fault suite failed")
	}
	fmt.Fprintln(stdout, "every check passed")
	return nil
}

func (o *options) validate() error {
	var errs []error
	for _, b := range []struct{ flag, path string }{{"-nats-server", o.natsServer}, {"-regsync", o.regsync}} {
		if b.path == "" {
			errs = append(errs, fmt.Errorf("%s: required", b.flag))
		} else if st, err := os.Stat(b.path); err != nil || st.IsDir() {
			errs = append(errs, fmt.Errorf("%s: %q is not a file", b.flag, b.path))
		}
	}
	if o.sources < minSources || o.bSources < minSources || o.sChanges < minSources {
		errs = append(errs, fmt.Errorf("-sources, -b-sources and -s-changes: at least %d (the registries ab and ba use 4 sources)", minSources))
	}
	if o.rate <= 0 || o.invalid < 0 || o.invalid >= 1 {
		errs = append(errs, errors.New("-rate: above 0; -invalid: from 0 to below 1"))
	}
	if o.rounds < 1 || o.duration <= 0 || o.cDuration <= 0 || o.converge <= 0 || o.requestEvery <= 0 || o.timeout <= 0 {
		errs = append(errs, errors.New("-rounds, -duration, -c-duration, -converge, -request-every and -timeout: above 0"))
	}
	return errors.Join(errs...)
}
