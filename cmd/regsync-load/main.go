// Command regsync-load measures the read API's targets end to end, with
// real processes on loopback: one nats-server with JetStream and three
// `regsync serve` replicas on it, each with its own data directory, all
// syncing the same two file sources (a small registry and a large one) and
// serving them as registries of their own names.
//
// It measures, and prints against the targets of BENCHMARKS.md:
//   - freshness: a file edit until every replica serves the new ETag (small
//     registry), with the steps of the median and slowest edits (trigger
//     published, sync started, completed, registry.changed, each replica's
//     new ETag), and one entry edited in the large registry until every
//     replica serves it, counted from the source's completed result;
//   - throughput of one replica under concurrent clients: full pages, 304s
//     and search, each run twice (see "Throughput" below);
//   - ToolHive's walk of the large registry (limit=1&version=latest,
//     following nextCursor) from one sequential client;
//   - memory: the resident set of a replica serving the large registry
//     against one that syncs it without serving it, before and after the
//     reads, and the peak;
//   - restart: a replica killed (kill -9) or stopped (SIGTERM) and started
//     again, until it answers the large registry's full view.
//
// # Throughput
//
// Each of the -clients clients owns one keep-alive connection to the
// replica, as wrk's do: it writes a request built once (with
// If-None-Match for the 304 runs) and reads the answer in place from a
// reused buffered reader (status line and headers parsed by hand, no
// header map, no allocation per request), checking its status and
// discarding its body. The clients run in this process, on the cores the
// replica runs on, so they are kept cheap: net/http's Transport (a
// goroutine pair per connection, a channel handoff and a header map per
// request), or the garbage of http.ReadResponse and the collections it
// sets off, would be load the replica's figures pay for.
//
// Each kind of request is measured twice, for -duration each:
//   - closed loop: every client sends its next request as soon as the last
//     is answered. The rate is the most the replica answers (saturation),
//     and the p50 and p99, each from a request's write to its answer's
//     end, are mostly time spent queued: at saturation the latency is the
//     queue's, whatever the server. Reported, not judged.
//   - open loop at the target rate (pages 5,000/s, 304s 20,000/s, search
//     5,000/s), as wrk2 runs: the requests are scheduled evenly over the
//     clients (client c sends its k-th at (k*clients+c)/rate after the
//     start), each latency is counted from the request's scheduled send,
//     not its actual one, so a client held up by a slow answer counts its
//     wait against the requests it sent late (coordinated omission
//     corrected). Every scheduled request is sent; the rate was sustained
//     when every one was answered and they were answered at 99% of the
//     rate or more, from the start to the last answer (a client more than
//     a whole run behind its schedule stops, and the run is not
//     sustained).
//
// A throughput target passes when its open-loop run sustained the rate
// with its p99 within the bound (10 ms; search 20 ms).
//
// It needs a nats-server binary and a regsync binary; `make bench-api`
// builds both. Every process and directory it starts is removed when it
// ends, also on failure and on Ctrl-C.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// options are the tool's flags.
type options struct {
	natsServer, regsync string
	keep                bool
	timeout             time.Duration

	small, servers int
	edits          int
	bigEdits       int
	clients        int
	duration       time.Duration
	restarts       int
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case err != nil:
		fmt.Fprintln(os.Stderr, "regsync-load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o := &options{}
	fs := flag.NewFlagSet("regsync-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: regsync-load -nats-server BIN -regsync BIN [flags]")
		fmt.Fprintln(stderr, "Measures the read API's freshness, throughput, walk, memory and restart figures with 3 regsync replicas on one nats-server.")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.natsServer, "nats-server", "", "nats-server binary (required)")
	fs.StringVar(&o.regsync, "regsync", "", "regsync binary (required)")
	fs.DurationVar(&o.timeout, "timeout", 15*time.Minute, "stop, as on Ctrl-C, after this long")
	fs.BoolVar(&o.keep, "keep", false, "keep the run directory (logs, configurations, data, and each throughput run's latencies over time in latencies-*.tsv) instead of removing it, with the replicas logging at debug level")
	fs.IntVar(&o.small, "small", 12, "servers in the small registry (freshness of file edits)")
	fs.IntVar(&o.servers, "servers", 10000, "servers in the large registry")
	fs.IntVar(&o.edits, "edits", 100, "edits of the small registry")
	fs.IntVar(&o.bigEdits, "big-edits", 10, "one-entry edits of the large registry")
	fs.IntVar(&o.clients, "clients", 64, "concurrent clients of the throughput runs")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "length of each throughput run")
	fs.IntVar(&o.restarts, "restarts", 3, "restarts of a replica of each kind (kill -9, SIGTERM)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := o.validate(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	dir, err := os.MkdirTemp("", "regsync-load-")
	if err != nil {
		return err
	}
	b := &bench{o: o, dir: dir, out: stdout}
	defer func() {
		b.procs.KillAll()
		if o.keep {
			fmt.Fprintf(stdout, "\nrun directory kept: %s\n", dir)
			return
		}
		_ = os.RemoveAll(dir)
	}()
	return b.run(ctx)
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
	if o.small < 1 || o.servers < 100 || o.edits < 1 || o.bigEdits < 1 || o.clients < 1 || o.restarts < 1 {
		errs = append(errs, errors.New("-small, -edits, -big-edits, -clients and -restarts: at least 1; -servers: at least 100"))
	}
	if o.duration <= 0 || o.timeout <= 0 {
		errs = append(errs, errors.New("-duration and -timeout: above 0"))
	}
	return errors.Join(errs...)
}
