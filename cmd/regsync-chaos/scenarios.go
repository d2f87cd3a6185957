package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/childproc"
)

// fault is one step of a scenario's fault schedule, at a fraction of its
// duration.
type fault struct {
	at   float64
	name string
	do   func(ctx context.Context) error
}

// runChurn runs churn and manual requests for duration, with the faults
// at their times, then stops the churn.
func (d *deployment) runChurn(ctx context.Context, o *options, duration time.Duration, faults []fault) error {
	cctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var churnErr error
	wg.Go(func() { churnErr = d.churn(cctx, o.rate, o.invalid) })
	wg.Go(func() { d.requestLoop(cctx, o.requestEvery) })
	start := time.Now()
	var err error
	for _, f := range faults {
		if err = sleep(ctx, time.Until(start.Add(time.Duration(f.at*float64(duration))))); err != nil {
			break
		}
		d.r.logf("%s", f.name)
		if err = f.do(ctx); err != nil {
			err = fmt.Errorf("%s: %w", f.name, err)
			break
		}
	}
	if err == nil {
		err = sleep(ctx, time.Until(start.Add(duration)))
	}
	stop()
	wg.Wait()
	if err != nil {
		return err
	}
	return churnErr
}

// killReplica kill -9s a replica and starts it again.
func (d *deployment) killReplica(rep *replica) func(context.Context) error {
	return func(ctx context.Context) error {
		rep.p.Kill()
		if err := sleep(ctx, 2*time.Second); err != nil {
			return err
		}
		return d.restart(ctx, rep)
	}
}

// restart starts a replica again. One that exits while starting is
// started again after 2 s, as its supervisor would (deploy/systemd:
// Restart=on-failure, RestartSec=2s), at most three times. One that does
// not become ready is a finding, not the end of the scenario: the churn
// goes on without it.
func (d *deployment) restart(ctx context.Context, rep *replica) error {
	for try := 1; ; try++ {
		err := d.e.startReplica(ctx, rep)
		switch {
		case err == nil || errors.Is(err, errInterrupted):
			return err
		case errors.Is(err, errExited) && try < 3:
			d.r.logf("note: %v; starting it again in 2s, as its supervisor would", err)
			if err := sleep(ctx, 2*time.Second); err != nil {
				return err
			}
		default:
			d.r.check(false, nil, "restart: %v", err)
			return nil
		}
	}
}

// termReplica SIGTERMs a replica, checks how it ended, and starts it again.
func (d *deployment) termReplica(rep *replica) func(context.Context) error {
	return func(ctx context.Context) error {
		d.terminate(ctx, rep)
		return d.restart(ctx, rep)
	}
}

// killLeader kill -9s the node leading the meta group (stream "") or a
// stream, and starts it again after a few seconds.
func (d *deployment) killLeader(stream string) func(context.Context) error {
	return func(ctx context.Context) error {
		var nd *node
		var err error
		if stream == "" {
			nd, err = d.cl.metaLeader(ctx)
		} else {
			nd, err = d.cl.streamLeader(ctx, d.obs.js, stream)
		}
		if err != nil {
			return err
		}
		d.r.logf("  the leader is %s: kill -9 %s, restart in 5s", nd.name, nd.name)
		d.cl.kill(nd)
		if err := sleep(ctx, 5*time.Second); err != nil {
			return err
		}
		return d.cl.restart(ctx, nd)
	}
}

// scenarioA: a 3-node cluster with R3 resources, 3 replicas, churn with
// valid and invalid data and manual requests, while replicas are killed
// and terminated and the NATS leaders are killed.
func scenarioA(ctx context.Context, e *env, o *options) *report {
	r := newReport(e.out, fmt.Sprintf("scenario a: 3-node NATS cluster (R3), 3 replicas, %d sources, %.0f writes/s (%.0f%% invalid), faults over %s",
		o.sources, o.rate, 100*o.invalid, o.duration))
	d, err := e.startClustered(ctx, r, "a", o, 3)
	if d != nil {
		defer d.stop()
	}
	if err != nil {
		r.errorf("%v", err)
		return r
	}
	faults := []fault{
		{0.08, "kill -9 replica r1", d.killReplica(d.reps[0])},
		{0.22, "SIGTERM replica r2", d.termReplica(d.reps[1])},
		{0.36, "kill -9 the meta leader", d.killLeader("")},
		{0.50, "kill -9 the leader of " + events.StreamTriggers, d.killLeader(events.StreamTriggers)},
		{0.64, "kill -9 the leader of KV_" + events.BucketLocks, d.killLeader("KV_" + events.BucketLocks)},
		{0.78, "kill -9 replica r3", d.killReplica(d.reps[2])},
		{0.86, "SIGTERM replica r1", d.termReplica(d.reps[0])},
	}
	if err := d.runChurn(ctx, o, o.duration, faults); err != nil {
		r.errorf("%v", err)
		return r
	}
	d.finish(ctx, o, maxWaitOneFault)
	return r
}

// maxWaitOneFault is the longest a write may wait for its result while one
// replica or one NATS node at a time fails.
const maxWaitOneFault = 20 * time.Second

// scenarioC: the whole cluster restarts, first the NATS servers alone
// (kill -9 all three), then everything (SIGTERM every replica, kill -9
// every node, start all again).
func scenarioC(ctx context.Context, e *env, o *options) *report {
	r := newReport(e.out, fmt.Sprintf("scenario c: whole-cluster restarts, 3 nodes and 3 replicas, %d sources, churn over %s", o.sources, o.cDuration))
	d, err := e.startClustered(ctx, r, "c", o, 3)
	if d != nil {
		defer d.stop()
	}
	if err != nil {
		r.errorf("%v", err)
		return r
	}
	restartNodes := func(ctx context.Context) error {
		for _, nd := range d.cl.nodes {
			if err := d.cl.restart(ctx, nd); err != nil {
				return err
			}
		}
		return d.cl.waitMetaLeader(ctx)
	}
	faults := []fault{
		{0.25, "kill -9 all three NATS nodes, restart them after 3s", func(ctx context.Context) error {
			for _, nd := range d.cl.nodes {
				d.cl.kill(nd)
			}
			if err := sleep(ctx, 3*time.Second); err != nil {
				return err
			}
			return restartNodes(ctx)
		}},
		{0.60, "SIGTERM every replica, kill -9 every NATS node, start everything again", func(ctx context.Context) error {
			var wg sync.WaitGroup
			for _, rep := range d.reps {
				wg.Go(func() { d.terminate(ctx, rep) })
			}
			wg.Wait()
			for _, nd := range d.cl.nodes {
				d.cl.kill(nd)
			}
			if err := sleep(ctx, 2*time.Second); err != nil {
				return err
			}
			if err := restartNodes(ctx); err != nil {
				return err
			}
			for _, rep := range d.reps {
				if err := d.restart(ctx, rep); err != nil {
					return err
				}
			}
			return nil
		}},
	}
	if err := d.runChurn(ctx, o, o.cDuration, faults); err != nil {
		r.errorf("%v", err)
		return r
	}
	d.finish(ctx, o, 0)
	return r
}

// scenarioB: one regsync on its embedded NATS, killed with kill -9 right
// after many registries were rewritten, while their syncs are in flight,
// then started again; every pending change must be synced within 5 s.
func scenarioB(ctx context.Context, e *env, o *options) *report {
	r := newReport(e.out, fmt.Sprintf("scenario b: embedded NATS, %d rounds of kill -9 with %d registries of %d KB rewritten",
		o.rounds, o.bSources, o.bSize/1024))
	d := &deployment{e: e, r: r, dir: filepath.Join(e.dir, "b"), sources: sourceNames("b", o.bSources)}
	d.regs = registriesOf(d.sources)
	defer d.stop()
	if err := d.startEmbedded(ctx, o); err != nil {
		r.errorf("%v", err)
		return r
	}
	if took, behind := d.converge(ctx, time.Now(), o.converge); len(behind) > 0 {
		r.errorf("first sync of %d sources not done after %.1fs", len(behind), took.Seconds())
		return r
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 5))
	rep := d.reps[0]
	var slow, lost []string
	var restarts []time.Duration
	for round := 1; round <= o.rounds; round++ {
		for _, s := range d.sources {
			if rng.Float64() < o.invalid {
				if _, err := d.files.write(s, false); err != nil {
					r.errorf("%v", err)
					return r
				}
			}
			if _, err := d.files.write(s, true); err != nil {
				r.errorf("%v", err)
				return r
			}
		}
		delay := time.Duration(50+rng.IntN(400)) * time.Millisecond
		if sleep(ctx, delay) != nil {
			break
		}
		rep.p.Kill()
		restarted := time.Now()
		if err := e.startReplica(ctx, rep); err != nil {
			r.errorf("round %d: %v", round, err)
			return r
		}
		took, behind := d.converge(ctx, restarted, o.converge)
		restarts = append(restarts, took)
		if len(behind) > 0 {
			r.logf("round %d: kill -9 %dms after the rewrite; after restart, %d sources not synced in %.0fs: %s",
				round, delay.Milliseconds(), len(behind), took.Seconds(), strings.Join(behind, " "))
			lost = append(lost, fmt.Sprintf("round %d: %s", round, strings.Join(behind, " ")))
			continue
		}
		r.logf("round %d: kill -9 %dms after the rewrite; every change synced %.1fs after restart", round, delay.Milliseconds(), took.Seconds())
		if took > maxRestartSync {
			slow = append(slow, fmt.Sprintf("round %d: %.1fs", round, took.Seconds()))
		}
	}
	r.infof("restart → every pending change synced: %s", percentiles(restarts))
	r.check(len(lost) == 0, lost, "rounds that lost changes (not synced %s after the restart): %d of %d", o.converge, len(lost), len(restarts))
	r.check(len(slow) == 0, slow, "rounds where the pending changes took more than %s after the restart: %d of %d", maxRestartSync, len(slow), len(restarts)-len(lost))
	d.finish(ctx, o, 0)
	return r
}

// maxRestartSync is how soon after an embedded regsync restarts every
// pending change must be synced.
const maxRestartSync = 5 * time.Second

// startEmbedded starts the one replica of scenario b on its embedded NATS
// server, with a TCP listener for the observer, and the observer.
func (d *deployment) startEmbedded(ctx context.Context, o *options) error {
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return err
	}
	var err error
	if d.files, err = newRegistries(filepath.Join(d.dir, "registries"), d.sources, o.bSize); err != nil {
		return err
	}
	port, err := childproc.FreePort()
	if err != nil {
		return err
	}
	rep, err := d.e.newReplica(d.dir, "r1", natsSection{embeddedListen: fmt.Sprintf("127.0.0.1:%d", port)}, d.sources, d.regs, d.files)
	if err != nil {
		return err
	}
	d.reps = []*replica{rep}
	if err := d.e.startReplica(ctx, rep); err != nil {
		return err
	}
	d.urls = fmt.Sprintf("nats://127.0.0.1:%d", port)
	// With embedded authentication on, regsync generates the password of
	// user regsync on first start.
	if pw, err := os.ReadFile(filepath.Join(rep.dataDir, "nats-password")); err == nil {
		d.user, d.password = "regsync", strings.TrimSpace(string(pw))
	}
	d.r.logf("regsync with embedded NATS ready, %d file sources of %d KB (auth: %t)", len(d.sources), o.bSize/1024, d.user != "")
	d.obs, err = observe(ctx, d.urls, d.user, d.password)
	return err
}
