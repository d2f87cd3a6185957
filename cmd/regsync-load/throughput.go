package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// The throughput targets: a rate each kind of request must be answered
// at, and the bound on its p99 at that rate.
const (
	pageRate, pageP99                       = 5000, 10 * time.Millisecond
	notModifiedRate, notModifiedP99         = 20000, 10 * time.Millisecond
	searchRate, searchP99                   = 5000, 20 * time.Millisecond
	sustainedShare                  float64 = 0.99
)

// pages walks the large registry 30 entries a page on one connection and
// returns each full page's request target and ETag.
func (b *bench) pages(r *replica) (targets, tags []string, err error) {
	c := newConn(r.addr())
	defer c.close()
	next := ""
	for {
		target := bigList
		if next != "" {
			target += "?cursor=" + url.QueryEscape(next)
		}
		res, err := c.do(buildRequest(r.addr(), target, ""), true)
		if err != nil {
			return nil, nil, err
		}
		if res.code != http.StatusOK {
			return nil, nil, fmt.Errorf("GET %s: %d %s", target, res.code, res.body)
		}
		var p listPage
		if err := json.Unmarshal(res.body, &p); err != nil {
			return nil, nil, fmt.Errorf("GET %s: %w", target, err)
		}
		if p.Metadata.Count == 30 {
			targets, tags = append(targets, target), append(tags, res.etag)
		}
		if p.Metadata.NextCursor == "" {
			return targets, tags, nil
		}
		next = p.Metadata.NextCursor
	}
}

// loadRun is the outcome of one throughput run.
type loadRun struct {
	// rate is the answers per second; p50 and p99 their latencies, from
	// each request's send (closed loop) or scheduled send (open loop).
	rate     float64
	p50, p99 time.Duration
	// scheduled and answered count an open-loop run's requests: the rate
	// was sustained when every one was answered and the last soon enough
	// (sustained).
	scheduled, answered int
	sustained           bool
	// replicaCores and toolCores are the CPU the replica and this tool
	// used over the run, in cores (0 for a replica not started by the
	// tool): the clients' share is what the replica did not get.
	replicaCores, toolCores float64
	// busyCores and stealCores are the whole machine's CPU over the run
	// (/proc/stat), in cores: what the replica and the tool did not use
	// of busyCores went to other processes (the other replicas,
	// nats-server) and the kernel; stealCores is time the hypervisor
	// gave to other machines while this one had work.
	busyCores, stealCores float64
	// start is when the run's clock started, and samples are its answered
	// requests, for -keep's latency files: whether a tail is a few long
	// stalls or spread over the run.
	start   time.Time
	samples []sample
}

// sample is one answered request: its send (scheduled, in an open-loop
// run) after the run's start, and its latency.
type sample struct{ at, latency time.Duration }

// load runs b.o.clients clients against r for b.o.duration, each on its
// own keep-alive connection, sending reqs in turn (client c starting at
// c*7919) and checking every status against want.
//
// With rate 0 the run is closed-loop: each client sends its next request
// as soon as the last is answered, and a latency is a request's time from
// its write to its answer's end. That measures the most the replica
// answers (saturation), where the latencies are the queue's.
//
// With a rate, the run is open-loop, as wrk2 runs: requests are scheduled
// at that rate for b.o.duration, spread evenly over the clients (client c
// sends its k-th request at (k*clients+c)/rate), and a latency is counted
// from the request's scheduled time, not from its send: a client whose
// previous answer came late sends at once, and the wait counts against
// the answer (coordinated omission corrected). Every scheduled request is
// sent; the rate was sustained when every one was answered and the
// answers came at sustainedShare of the rate or more, counted from the
// start to the last answer. A client more than a whole run behind its
// schedule stops sending, and the run is not sustained.
func (b *bench) load(ctx context.Context, r *replica, reqs [][]byte, want int, rate float64) (loadRun, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	clients, d := b.o.clients, b.o.duration
	lat := make([][]sample, clients)
	errs := make([]error, clients)
	scheduled := 0
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(clients) * float64(time.Second) / rate)
		scheduled = int(rate * d.Seconds())
	}
	// The connections are open before the clock starts: a client's
	// connection is kept alive, and its dial is no request's latency.
	conns := make([]*conn, clients)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.close()
			}
		}
	}()
	for c := range conns {
		if rate > 0 {
			// Room for every latency a client records: no slice grows,
			// and no collection runs, during the run.
			lat[c] = make([]sample, 0, scheduled/clients+1)
		}
		conns[c] = newConn(r.addr())
		if err := conns[c].connect(); err != nil {
			return loadRun{}, fmt.Errorf("connect to %s: %w", r.addr(), err)
		}
	}
	cpu := func() (replica, tool time.Duration, err error) {
		if r.p != nil {
			if replica, err = cpuTime(r.p.Pid()); err != nil {
				return 0, 0, err
			}
		}
		tool, err = cpuTime(os.Getpid())
		return replica, tool, err
	}
	replica0, tool0, err := cpu()
	if err != nil {
		return loadRun{}, err
	}
	machine0, err := machineCPU()
	if err != nil {
		return loadRun{}, err
	}
	var wg sync.WaitGroup
	var lastMu sync.Mutex
	start := time.Now()
	last := start
	for c := range clients {
		wg.Go(func() {
			conn := conns[c]
			timer := time.NewTimer(0)
			defer timer.Stop()
			<-timer.C
			offset := time.Duration(float64(c) * float64(time.Second) / max(rate, 1))
			for k := 0; ; k++ {
				at := time.Now()
				if rate > 0 {
					at = start.Add(offset + time.Duration(k)*interval)
					if at.Sub(start) >= d || time.Since(at) > d {
						break
					}
					if wait := time.Until(at); wait > 0 {
						timer.Reset(wait)
						select {
						case <-timer.C:
						case <-ctx.Done():
							return
						}
					}
				} else if at.Sub(start) >= d {
					break
				}
				if ctx.Err() != nil {
					return
				}
				j := (c*7919 + k) % len(reqs)
				res, err := conn.do(reqs[j], false)
				if err == nil && res.code != want {
					err = fmt.Errorf("request %d: %d, want %d", j, res.code, want)
				}
				if err != nil {
					errs[c] = err
					cancel()
					return
				}
				lat[c] = append(lat[c], sample{at.Sub(start), time.Since(at)})
			}
			lastMu.Lock()
			if now := time.Now(); now.After(last) {
				last = now
			}
			lastMu.Unlock()
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return loadRun{}, err
	}
	if err := ctx.Err(); err != nil {
		return loadRun{}, err
	}
	replica1, tool1, err := cpu()
	if err != nil {
		return loadRun{}, err
	}
	machine1, err := machineCPU()
	if err != nil {
		return loadRun{}, err
	}
	var all []time.Duration
	var samples []sample
	for _, l := range lat {
		samples = append(samples, l...)
		for _, x := range l {
			all = append(all, x.latency)
		}
	}
	s := sorted(all)
	elapsed := last.Sub(start)
	run := loadRun{
		start: start, samples: samples,
		p50: percentile(s, 50), p99: percentile(s, 99), scheduled: scheduled, answered: len(s),
		replicaCores: (replica1 - replica0).Seconds() / elapsed.Seconds(),
		toolCores:    (tool1 - tool0).Seconds() / elapsed.Seconds(),
		busyCores:    (machine1.busy - machine0.busy).Seconds() / elapsed.Seconds(),
		stealCores:   (machine1.steal - machine0.steal).Seconds() / elapsed.Seconds(),
	}
	if rate == 0 {
		run.rate = float64(len(s)) / elapsed.Seconds()
		return run, nil
	}
	run.rate = float64(len(s)) / max(elapsed, d).Seconds()
	run.sustained = len(s) >= scheduled && run.rate >= sustainedShare*rate
	return run, nil
}

// requests builds one request for each target on r, with the ETag of
// the same index as If-None-Match when tags is not nil.
func requests(r *replica, targets, tags []string) [][]byte {
	reqs := make([][]byte, len(targets))
	for i, t := range targets {
		inm := ""
		if tags != nil {
			inm = tags[i]
		}
		reqs[i] = buildRequest(r.addr(), t, inm)
	}
	return reqs
}

// throughput measures full pages, 304s and search on one replica, each
// closed-loop (the saturation rate) and open-loop at its target rate.
func (b *bench) throughput(ctx context.Context, r *replica) ([]figure, error) {
	targets, tags, err := b.pages(r)
	if err != nil {
		return nil, err
	}
	var searches []string
	for _, term := range []string{"server-00999", "SERVER-00123", "server-0055"} {
		searches = append(searches, bigList+"?version=latest&search="+url.QueryEscape(term))
	}
	c := b.o.clients
	var figs []figure
	for _, k := range []struct {
		file, name string
		reqs       [][]byte
		want       int
		rate       float64
		bound      time.Duration
	}{
		{"pages", fmt.Sprintf("full 30-entry pages, %d servers, %d clients, one replica", b.o.servers, c), requests(r, targets, nil), http.StatusOK, pageRate, pageP99},
		{"304s", "304s, same", requests(r, targets, tags), http.StatusNotModified, notModifiedRate, notModifiedP99},
		{"search", "search, same", requests(r, searches, nil), http.StatusOK, searchRate, searchP99},
	} {
		closed, err := b.load(ctx, r, k.reqs, k.want, 0)
		if err != nil {
			return nil, err
		}
		open, err := b.load(ctx, r, k.reqs, k.want, k.rate)
		if err != nil {
			return nil, err
		}
		if b.o.keep {
			for _, run := range []struct {
				loop string
				run  loadRun
			}{{"closed", closed}, {"open", open}} {
				if err := b.writeLatencies(k.file+"-"+run.loop, r, run.run); err != nil {
					return nil, err
				}
			}
		}
		figs = append(figs,
			figure{k.name + ", closed loop (as fast as answered): per second; p50 / p99",
				fmt.Sprintf("%.0f/s; %s / %s; %s", closed.rate, ms(closed.p50), ms(closed.p99), closed.cpuText()),
				"— (saturation)", true},
			figure{fmt.Sprintf("%s, open loop at %s/s: answered per second (sustained?); p50 / p99 from each scheduled send", k.name, thousands(k.rate)),
				fmt.Sprintf("%.0f/s (%s, %d of %d answered); %s / %s; %s",
					open.rate, sustainedWord(open.sustained), open.answered, open.scheduled, ms(open.p50), ms(open.p99), open.cpuText()),
				fmt.Sprintf("%s/s sustained, p99 ≤ %s", thousands(k.rate), ms(k.bound)),
				open.sustained && open.p99 <= k.bound})
	}
	return figs, nil
}

func sustainedWord(ok bool) string {
	if ok {
		return "sustained"
	}
	return "not sustained"
}

// thousands writes a whole rate with a comma between thousands: 20,000.
func thousands(f float64) string {
	n := int64(f)
	if n < 1000 {
		return fmt.Sprint(n)
	}
	return fmt.Sprintf("%s,%03d", thousands(float64(n/1000)), n%1000)
}

// writeLatencies writes a kept run's latencies over time to
// latencies-<name>.tsv in the run directory, one answered request a line
// in the order of their sends: its send (scheduled, in an open-loop run)
// after the run's start and its latency, in milliseconds. Its first line
// says when the run started, also in the replica's clock (what
// GODEBUG=gctrace=1 prints), so that a stall lines up with a
// collection or anything else the replica logged.
func (b *bench) writeLatencies(name string, r *replica, run loadRun) error {
	path := filepath.Join(b.dir, "latencies-"+name+".tsv")
	samples := slices.Clone(run.samples)
	slices.SortFunc(samples, func(x, y sample) int { return cmp.Compare(x.at, y.at) })
	var w bytes.Buffer
	fmt.Fprintf(&w, "# run started %s", run.start.UTC().Format(time.RFC3339Nano))
	if r.p != nil {
		fmt.Fprintf(&w, ", %.3f s after replica %s started", run.start.Sub(r.p.Started).Seconds(), r.name)
	}
	w.WriteString("\nsent_ms\tlatency_ms\n")
	for _, x := range samples {
		fmt.Fprintf(&w, "%.3f\t%.3f\n", float64(x.at.Microseconds())/1000, float64(x.latency.Microseconds())/1000)
	}
	if err := os.WriteFile(path, w.Bytes(), 0o600); err != nil {
		return fmt.Errorf("write the latencies of a run: %w", err)
	}
	return nil
}

// cpuText is a run's CPU, in cores: the replica's, the tool's, the
// machine's and the hypervisor's steal.
func (r loadRun) cpuText() string {
	return fmt.Sprintf("CPU: replica %.2f, this tool %.2f, whole machine %.2f cores (steal %.2f)",
		r.replicaCores, r.toolCores, r.busyCores, r.stealCores)
}
