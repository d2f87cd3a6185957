package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// deployment is regsync as a scenario runs it: a NATS (a cluster, or the
// embedded server of the one replica), the replicas, the registry files
// they sync, and the observer.
type deployment struct {
	e       *env
	r       *report
	dir     string
	sources []string
	regs    []registryDef
	files   *registries
	cl      *cluster // nil on the embedded server
	reps    []*replica
	obs     *observer
	// urls, user and password reach the NATS the replicas use.
	urls, user, password string

	mu       sync.Mutex
	requests []*request
	inflight sync.WaitGroup
}

// sourceNames returns n source names with a prefix.
func sourceNames(prefix string, n int) []string {
	var names []string
	for i := range n {
		names = append(names, fmt.Sprintf("%s%02d", prefix, i+1))
	}
	return names
}

// startClustered starts a 3-node cluster and n replicas using it with R3
// resources, and the observer.
func (e *env) startClustered(ctx context.Context, r *report, name string, o *options, replicas int) (*deployment, error) {
	d := &deployment{e: e, r: r, dir: filepath.Join(e.dir, name), sources: sourceNames(name, o.sources)}
	d.regs = registriesOf(d.sources)
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return nil, err
	}
	var err error
	if d.files, err = newRegistries(filepath.Join(d.dir, "registries"), d.sources, o.size); err != nil {
		return nil, err
	}
	if d.cl, err = e.startCluster(ctx, d.dir, 3); err != nil {
		return nil, err
	}
	d.urls, d.user, d.password = d.cl.urls(), d.cl.user, d.cl.password
	leader, err := d.cl.metaLeader(ctx)
	if err != nil {
		return nil, err
	}
	r.logf("nats-server cluster of 3 up (meta leader %s)", leader.name)
	nats := natsSection{url: d.urls, user: d.user, password: d.password, replicas: 3}
	for i := range replicas {
		rep, err := e.newReplica(d.dir, fmt.Sprintf("r%d", i+1), nats, d.sources, d.regs, d.files)
		if err != nil {
			return nil, err
		}
		d.reps = append(d.reps, rep)
	}
	for _, rep := range d.reps {
		if err := e.startReplica(ctx, rep); err != nil {
			return nil, err
		}
	}
	r.logf("%d regsync replicas ready, %d file sources of %d KB", replicas, len(d.sources), o.size/1024)
	if d.obs, err = observe(ctx, d.urls, d.user, d.password); err != nil {
		return nil, err
	}
	return d, nil
}

// stop ends the replicas (SIGTERM), the observer and the NATS servers.
func (d *deployment) stop() {
	var wg sync.WaitGroup
	for _, rep := range d.reps {
		if rep.p != nil && !rep.p.Exited() {
			wg.Go(func() { rep.p.Term(15 * time.Second) })
		}
	}
	wg.Wait()
	if d.obs != nil {
		d.obs.close()
	}
	if d.cl != nil {
		for _, nd := range d.cl.nodes {
			d.cl.kill(nd)
		}
	}
}

// churn rewrites random sources at rate writes a second until ctx is done,
// a fraction of them with invalid data.
func (d *deployment) churn(ctx context.Context, rate, invalid float64) error {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	every := time.Duration(float64(time.Second) / rate)
	for {
		s := d.sources[rng.IntN(len(d.sources))]
		if _, err := d.files.write(s, rng.Float64() >= invalid); err != nil {
			return err
		}
		if sleep(ctx, every) != nil {
			return nil
		}
	}
}

// requestLoop starts a `regsync sync --wait` of a random source every
// interval until ctx is done, at most four at a time.
func (d *deployment) requestLoop(ctx context.Context, every time.Duration) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	slots := make(chan struct{}, 4)
	for sleep(ctx, every) == nil {
		select {
		case slots <- struct{}{}:
		default:
			continue
		}
		s := d.sources[rng.IntN(len(d.sources))]
		d.inflight.Go(func() {
			defer func() { <-slots }()
			d.request(s)
		})
	}
}

// request runs `regsync sync SOURCE --wait` and records what it printed.
func (d *deployment) request(source string) {
	rid := "chaos-" + randomHex(6)
	q := &request{source: source, id: rid + "-" + source, at: time.Now()}
	var stdout, stderr bytes.Buffer
	env := []string{"REGSYNC_NATS_URL=" + d.urls}
	if d.user != "" {
		env = append(env, "REGSYNC_NATS_USER="+d.user, "REGSYNC_NATS_PASSWORD="+d.password)
	}
	p, err := d.e.procs.Start("regsync sync", &stdout, &stderr, env, d.e.regsync,
		"sync", source, "--wait", "--timeout", requestTimeout.String(), "--request-id", rid)
	if err != nil {
		q.complaint = err.Error()
	} else {
		<-p.Done()
		q.accepted = strings.Contains(stderr.String(), "requested sync of")
		var ev struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(stdout.Bytes(), &ev) == nil {
			q.outcome = ev.Type
		} else {
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			q.complaint = lines[len(lines)-1]
		}
	}
	q.took = time.Since(q.at)
	d.mu.Lock()
	d.requests = append(d.requests, q)
	d.mu.Unlock()
}

// requestTimeout is the --timeout of every manual request.
const requestTimeout = 60 * time.Second

// converge waits until every source's status holds its last valid write,
// up to limit, and returns how long that took from since and the sources
// that did not get there.
func (d *deployment) converge(ctx context.Context, since time.Time, limit time.Duration) (time.Duration, []string) {
	deadline := time.Now().Add(limit)
	for {
		var behind []string
		for _, s := range d.sources {
			_, w := d.files.lastValid(s)
			if d.obs.syncedHash(ctx, s) != w.hash {
				behind = append(behind, s)
			}
		}
		if len(behind) == 0 || time.Now().After(deadline) || sleep(ctx, 100*time.Millisecond) != nil {
			return time.Since(since), behind
		}
	}
}

// finish writes a last valid registry to every source, waits for the
// manual requests and for the sources to converge, then gathers the
// evidence and runs the checks.
func (d *deployment) finish(ctx context.Context, o *options, maxWait time.Duration) {
	for _, s := range d.sources {
		if _, err := d.files.write(s, true); err != nil {
			d.r.errorf("%v", err)
			return
		}
	}
	last := time.Now()
	took, behind := d.converge(ctx, last, o.converge)
	if len(behind) == 0 {
		d.r.logf("last writes synced %.1fs after they were made", took.Seconds())
	} else {
		d.r.logf("%d sources still behind their last write after %s: %s", len(behind), o.converge, strings.Join(behind, " "))
	}
	d.waitRegistries(ctx, o)
	d.inflight.Wait()
	// A result follows its status record; give the last ones a moment.
	if sleep(ctx, 2*time.Second) != nil {
		return
	}
	d.analyze(ctx, maxWait)
}

func (d *deployment) analyze(ctx context.Context, maxWait time.Duration) {
	st, err := settled(ctx, func() (stored, error) { return d.obs.readResults(ctx) })
	if err != nil {
		d.r.errorf("%v", err)
		return
	}
	ev := evidence{sources: d.sources, writes: d.files.all(), last: map[string][]byte{}, results: st.results,
		changes: st.changes, finals: map[string]final{}, end: time.Now(), maxWait: maxWait}
	for _, s := range d.sources {
		ev.last[s], _ = d.files.lastValid(s)
		ev.finals[s], _ = settled(ctx, func() (final, error) {
			f := d.obs.finalState(ctx, s)
			return f, f.err
		})
	}
	ev.conflicts, ev.undecoded = d.obs.wireState()
	ev.statusHashes = d.obs.seenStatusHashes()
	ev.digests = d.obs.seenDigests()
	d.addRegistries(ctx, &ev)
	d.mu.Lock()
	ev.requests = d.requests
	d.mu.Unlock()
	analyze(d.r, ev)
}

// settled retries a read of the end state for up to settleLimit, while
// JetStream may still be electing leaders after the last fault (no
// responders, timeouts). It returns the last try's value and error.
func settled[T any](ctx context.Context, read func() (T, error)) (T, error) {
	deadline := time.Now().Add(settleLimit)
	for {
		v, err := read()
		if err == nil || time.Now().After(deadline) || sleep(ctx, time.Second) != nil {
			return v, err
		}
	}
}

// settleLimit bounds how long reads of the end state are retried.
const settleLimit = 30 * time.Second

// terminate sends SIGTERM to a replica and checks it exits within 10 s
// and leaves none of its leases behind.
func (d *deployment) terminate(ctx context.Context, rep *replica) {
	holder := rep.holder(d.e.host)
	took, exited := rep.p.Term(termLimit + 5*time.Second)
	how := fmt.Sprintf("exited after %.1fs (%s)", took.Seconds(), rep.p.State())
	if !exited {
		how = fmt.Sprintf("still running after %.0fs, killed", took.Seconds())
	}
	leases, err := d.obs.leases(ctx)
	var left []string
	for source, h := range leases {
		if h == holder {
			left = append(left, source)
		}
	}
	switch {
	case err != nil:
		d.r.check(false, nil, "SIGTERM %s: %s; leases not readable: %v", rep.name, how, err)
	default:
		d.r.check(exited && took <= termLimit && len(left) == 0, left, "SIGTERM %s: %s (limit %s), leases left behind: %d", rep.name, how, termLimit, len(left))
	}
}

// termLimit is how long a SIGTERM'd replica may take to exit.
const termLimit = 10 * time.Second

// waitRegistries waits for the registries to hold the sources' last
// syncs, and says how long that took or which are behind.
func (d *deployment) waitRegistries(ctx context.Context, o *options) {
	took, behind := d.convergeRegistries(ctx, o.converge)
	if len(behind) == 0 {
		d.r.logf("registries hold the last syncs %.1fs later", took.Seconds())
	} else {
		d.r.logf("%d registries still behind after %s: %s", len(behind), o.converge, strings.Join(behind, "; "))
	}
}

// addRegistries adds the registries' end states to ev, and the
// generations seen on the wire with two contents.
func (d *deployment) addRegistries(ctx context.Context, ev *evidence) {
	ev.genConflicts = d.obs.wireGenerations()
	finals := d.registryFinals(ctx)
	for _, reg := range d.regs {
		ev.registries = append(ev.registries, registryEvidence{def: reg, final: finals[reg.name]})
	}
}
