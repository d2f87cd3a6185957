package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/regsync/regsync/internal/registry/registrytest"
)

// figure is one line of the report: what was measured, against its target.
type figure struct {
	name, value, target string
	met                 bool
}

const (
	smallList = "/registry/small/v0.1/servers"
	bigList   = "/registry/big/v0.1/servers"
	// edited is the entry the one-entry edits of the large registry change.
	edited     = "/registry/big/v0.1/servers/io.github.example%2Fserver-000001/versions/latest"
	editedText = `"Server 1 of a large test registry: reads, searches and updates records`
)

func (b *bench) run(ctx context.Context) error {
	o := b.o
	b.client = newClient(o.clients)
	fmt.Fprintf(b.out, "regsync-load: %d-server and %d-server registries, 3 replicas on one nats-server; load average at start %s\n", o.small, o.servers, loadAverage())
	b.smallPath = filepath.Join(b.dir, "small.json")
	b.bigPath = filepath.Join(b.dir, "big.json")
	bigDoc := registrytest.Large(o.servers, 0)
	if err := writeFile(b.smallPath, registrytest.Large(o.small, 0)); err != nil {
		return err
	}
	if err := writeFile(b.bigPath, bigDoc); err != nil {
		return err
	}
	if err := b.startNATS(ctx); err != nil {
		return err
	}
	for i := range 3 {
		r, err := b.newReplica(fmt.Sprintf("r%d", i+1))
		if err != nil {
			return err
		}
		b.replicas = append(b.replicas, r)
	}
	// unserved syncs the same sources but serves only the small registry:
	// what it lacks against a replica is what serving the large one costs.
	unserved, err := b.newReplica("unserved", "small")
	if err != nil {
		return err
	}
	for _, r := range plus(b.replicas, unserved) {
		if err := b.start(r); err != nil {
			return err
		}
	}
	for _, r := range plus(b.replicas, unserved) {
		if err := b.waitReady(ctx, r); err != nil {
			return err
		}
	}
	fmt.Fprintln(b.out, "replicas ready; waiting for every replica to serve both registries, synced, alike")
	// A registry is served (empty) before its source's first sync: the
	// measurements start once every replica has both syncs, so the large
	// one's first commit is not applied in the middle of the small edits.
	for _, path := range []string{smallList, bigList} {
		if _, _, err := b.everyReplica(ctx, path+"?limit=1", "", listsServers); err != nil {
			return err
		}
		if _, err := b.converged(ctx, path); err != nil {
			return err
		}
	}
	r1 := b.replicas[0]

	var figs []figure
	fmt.Fprintln(b.out, "freshness of the small registry")
	f, err := b.smallFreshness(ctx)
	if err != nil {
		return err
	}
	figs = append(figs, f...)
	fmt.Fprintln(b.out, "freshness of one entry of the large registry")
	f, err = b.bigFreshness(ctx, bigDoc)
	if err != nil {
		return err
	}
	figs = append(figs, f...)
	fmt.Fprintln(b.out, "throughput")
	f, err = b.throughput(ctx, r1)
	if err != nil {
		return err
	}
	figs = append(figs, f...)
	fmt.Fprintln(b.out, "ToolHive's walk")
	f, err = b.walk(ctx, r1)
	if err != nil {
		return err
	}
	figs = append(figs, f...)

	fmt.Fprintln(b.out, "restarts")
	f, err = b.restarts(ctx, b.replicas[1])
	if err != nil {
		return err
	}
	figs = append(figs, f...)

	fmt.Fprintln(b.out, "memory")
	f, err = b.memory(ctx, b.replicas[1], unserved)
	if err != nil {
		return err
	}
	figs = append(figs, f...)

	fmt.Fprintf(b.out, "\nload average at the end %s\n\n", loadAverage())
	tw := tabwriter.NewWriter(b.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tmeasured\ttarget\t")
	missed := 0
	for _, f := range figs {
		mark := ""
		if !f.met {
			mark = "MISSED"
			missed++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.name, f.value, f.target, mark)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if missed > 0 {
		fmt.Fprintf(b.out, "\n%d target(s) missed\n", missed)
	}
	return nil
}

// plus returns rs and r, leaving rs as it is.
func plus(rs []*replica, r *replica) []*replica { return append(append([]*replica(nil), rs...), r) }

// writeFile replaces path by writing a temporary file and renaming it over
// the old one, as editors and deploy tools do.
func writeFile(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	return nil
}

// listsServers reports whether a listing's page holds any server.
func listsServers(body []byte) bool {
	var page struct {
		Metadata struct {
			Count int `json:"count"`
		} `json:"metadata"`
	}
	return json.Unmarshal(body, &page) == nil && page.Metadata.Count > 0
}

// converged waits until every replica answers path with 200 and one ETag,
// and returns it.
func (b *bench) converged(ctx context.Context, path string) (string, error) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		tags := map[string]bool{}
		ok := true
		for _, r := range b.replicas {
			res, err := b.get(ctx, r.url(path), "")
			if err != nil || res.code != http.StatusOK {
				ok = false
				break
			}
			tags[res.etag] = true
		}
		if ok && len(tags) == 1 {
			for t := range tags {
				return t, nil
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("the replicas did not serve %s alike within 2 minutes", path)
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return "", err
		}
	}
}

// pollInterval is the pause between two polls of one replica: short
// enough for millisecond figures, long enough to leave the cores to the
// replicas.
const pollInterval = time.Millisecond

// everyReplica polls path on every replica, with If-None-Match old, until
// each answers 200 with a body that done accepts, and returns when the
// last one did and when each did.
func (b *bench) everyReplica(ctx context.Context, path, old string, done func([]byte) bool) (time.Time, []time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	at := make([]time.Time, len(b.replicas))
	errs := make([]error, len(b.replicas))
	for i, r := range b.replicas {
		wg.Go(func() {
			for {
				res, err := b.get(ctx, r.url(path), old)
				if err == nil && res.code == http.StatusOK && res.etag != old && done(res.body) {
					at[i] = time.Now()
					return
				}
				if err := sleep(ctx, pollInterval); err != nil {
					errs[i] = fmt.Errorf("replica %s never served the change of %s: %w", r.name, path, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return time.Time{}, nil, err
	}
	last := at[0]
	for _, t := range at[1:] {
		if t.After(last) {
			last = t
		}
	}
	return last, at, nil
}

// smallFreshness edits the small registry's file and measures until every
// replica serves the new listing's ETag.
func (b *bench) smallFreshness(ctx context.Context) ([]figure, error) {
	res, err := b.follow("small")
	if err != nil {
		return nil, err
	}
	defer res.close()
	times, err := b.followSteps("small")
	if err != nil {
		return nil, err
	}
	defer times.close()
	var took, toCompleted []time.Duration
	var all []steps
	old, err := b.converged(ctx, smallList)
	if err != nil {
		return nil, err
	}
	for k := 1; k <= b.o.edits; k++ {
		res.drain()
		times.drain()
		start := time.Now()
		if err := writeFile(b.smallPath, registrytest.Large(b.o.small, k)); err != nil {
			return nil, err
		}
		completed, err := res.completed(ctx)
		if err != nil {
			return nil, err
		}
		last, at, err := b.everyReplica(ctx, smallList, old, func([]byte) bool { return true })
		if err != nil {
			return nil, err
		}
		took = append(took, last.Sub(start))
		toCompleted = append(toCompleted, completed.at.Sub(start))
		st := steps{write: start, started: startedAt(completed), completed: completed.at, replicas: at}
		times.fill(&st)
		all = append(all, st)
		if old, err = b.converged(ctx, smallList); err != nil {
			return nil, err
		}
	}
	reportSteps(b.out, all)
	s, c := sorted(took), sorted(toCompleted)
	p50, p99 := percentile(s, 50), percentile(s, 99)
	return []figure{
		{
			name:   fmt.Sprintf("file edit → new ETag on all 3 replicas, %d servers, %d edits: p50 / p99", b.o.small, b.o.edits),
			value:  ms(p50) + " / " + ms(p99),
			target: "≤ 20 ms / ≤ 100 ms",
			met:    p50 <= 20*time.Millisecond && p99 <= 100*time.Millisecond,
		},
		{
			name:   "same, file edit → the source's completed result: p50 / p99",
			value:  ms(percentile(c, 50)) + " / " + ms(percentile(c, 99)),
			target: "—",
			met:    true,
		},
	}, nil
}

// bigFreshness edits one entry of the large registry and measures from
// the source's completed result until every replica serves the entry.
func (b *bench) bigFreshness(ctx context.Context, doc []byte) ([]figure, error) {
	res, err := b.follow("big")
	if err != nil {
		return nil, err
	}
	defer res.close()

	var sinceCompleted, sinceEdit []time.Duration
	for k := 1; k <= b.o.bigEdits; k++ {
		old, err := b.converged(ctx, edited)
		if err != nil {
			return nil, err
		}
		res.drain()
		marker := fmt.Sprintf(" (load edit %d)", k)
		data := bytes.Replace(doc, []byte(editedText), []byte(editedText+marker), 1)
		if bytes.Equal(data, doc) {
			return nil, errors.New("the large registry has no server 1 to edit")
		}
		start := time.Now()
		if err := writeFile(b.bigPath, data); err != nil {
			return nil, err
		}
		completed, err := res.completed(ctx)
		if err != nil {
			return nil, err
		}
		last, _, err := b.everyReplica(ctx, edited, old, func(body []byte) bool { return bytes.Contains(body, []byte(marker)) })
		if err != nil {
			return nil, err
		}
		sinceCompleted = append(sinceCompleted, last.Sub(completed.at))
		sinceEdit = append(sinceEdit, last.Sub(start))
	}
	sc, se := sorted(sinceCompleted), sorted(sinceEdit)
	worst := sc[len(sc)-1]
	return []figure{
		{
			name:   fmt.Sprintf("one entry edited in a %d-server source → served by all 3 replicas, after its completed result, %d edits: p50 / max", b.o.servers, b.o.bigEdits),
			value:  ms(percentile(sc, 50)) + " / " + ms(worst),
			target: "≤ 150 ms",
			met:    worst <= 150*time.Millisecond,
		},
		{
			name:   "same, from the file edit: p50 / max",
			value:  ms(percentile(se, 50)) + " / " + ms(se[len(se)-1]),
			target: "—",
			met:    true,
		},
	}, nil
}

// results are the result events of one source, each with the time it
// arrived.
type results struct {
	nc  *nats.Conn
	ch  chan arrival
	src string
}

type arrival struct {
	subject string
	data    []byte
	at      time.Time
}

// follow subscribes to the result events of a source.
func (b *bench) follow(source string) (*results, error) {
	nc, err := nats.Connect(b.natsURL, nats.UserInfo(b.user, b.password))
	if err != nil {
		return nil, fmt.Errorf("connect to NATS: %w", err)
	}
	r := &results{nc: nc, ch: make(chan arrival, 256), src: source}
	if _, err := nc.Subscribe("regsync.result."+source+".>", func(m *nats.Msg) {
		r.ch <- arrival{subject: m.Subject, data: m.Data, at: time.Now()}
	}); err != nil {
		nc.Close()
		return nil, fmt.Errorf("subscribe to the results of %s: %w", source, err)
	}
	if err := nc.Flush(); err != nil {
		nc.Close()
		return nil, fmt.Errorf("subscribe to the results of %s: %w", source, err)
	}
	return r, nil
}

func (r *results) close() { r.nc.Close() }

// drain forgets the results received so far.
func (r *results) drain() {
	for {
		select {
		case <-r.ch:
		default:
			return
		}
	}
}

// completed waits for the next completed result and returns it with when
// it arrived. A skipped result is passed over: it answers a trigger of a
// revision that another replica's sync stored meanwhile (a replica that
// waited for the lease while the sync ran). A failed one is an error.
func (r *results) completed(ctx context.Context) (arrival, error) {
	limit := time.After(time.Minute)
	for {
		select {
		case a := <-r.ch:
			switch {
			case strings.HasSuffix(a.subject, ".completed"):
				return a, nil
			case strings.HasSuffix(a.subject, ".skipped"):
				continue
			}
			return arrival{}, fmt.Errorf("an edit of %s was answered %s: %s", r.src, a.subject, a.data)
		case <-limit:
			return arrival{}, fmt.Errorf("an edit of %s: no result within a minute", r.src)
		case <-ctx.Done():
			return arrival{}, ctx.Err()
		}
	}
}

// listPage is the part of a listing the tool reads.
type listPage struct {
	Metadata struct {
		NextCursor string `json:"nextCursor"`
		Count      int    `json:"count"`
	} `json:"metadata"`
}

// walk is ToolHive's check of a registry: every server, one a request,
// from one sequential client on one keep-alive connection.
func (b *bench) walk(ctx context.Context, r *replica) ([]figure, error) {
	c := newConn(r.addr())
	defer c.close()
	base := bigList + "?limit=1&version=latest"
	target, n := base, 0
	start := time.Now()
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		res, err := c.do(buildRequest(r.addr(), target, ""), true)
		if err != nil {
			return nil, err
		}
		if res.code != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %d %s", target, res.code, res.body)
		}
		n++
		var p listPage
		if err := json.Unmarshal(res.body, &p); err != nil {
			return nil, fmt.Errorf("GET %s: %w", target, err)
		}
		if p.Metadata.NextCursor == "" {
			break
		}
		target = base + "&cursor=" + url.QueryEscape(p.Metadata.NextCursor)
	}
	took := time.Since(start)
	if n != b.o.servers {
		return nil, fmt.Errorf("the walk saw %d servers, want %d", n, b.o.servers)
	}
	per := took / time.Duration(n)
	return []figure{{
		name:   fmt.Sprintf("ToolHive's walk of %d servers (limit=1&version=latest), one sequential client: per request; whole walk", n),
		value:  fmt.Sprintf("%.3f ms; %s", float64(per.Microseconds())/1000, ms(took)),
		target: "≤ 0.5 ms",
		met:    per <= 500*time.Microsecond,
	}}, nil
}

// restarts stops r (kill -9, then SIGTERM) and starts it again, and
// measures until it serves the large registry's full view again.
func (b *bench) restarts(ctx context.Context, r *replica) ([]figure, error) {
	var figs []figure
	for _, kind := range []string{"kill -9", "SIGTERM"} {
		var took []time.Duration
		for range b.o.restarts {
			want, err := b.converged(ctx, bigList)
			if err != nil {
				return nil, err
			}
			if kind == "kill -9" {
				r.p.Kill()
			} else if _, ok := r.p.Term(30 * time.Second); !ok {
				return nil, fmt.Errorf("replica %s did not end within 30s of SIGTERM", r.name)
			}
			if err := b.start(r); err != nil {
				return nil, err
			}
			start := r.p.Started
			for {
				res, err := b.get(ctx, r.url(bigList), "")
				if err == nil && res.code == http.StatusOK && res.etag == want {
					break
				}
				if r.p.Exited() {
					return nil, fmt.Errorf("replica %s ended after its restart: %s", r.name, lastLine(r.log))
				}
				if time.Since(start) > 2*time.Minute {
					return nil, fmt.Errorf("replica %s did not serve the large registry within 2 minutes of its restart", r.name)
				}
				if err := sleep(ctx, 5*time.Millisecond); err != nil {
					return nil, err
				}
			}
			took = append(took, time.Since(start))
		}
		s := sorted(took)
		figs = append(figs, figure{
			name:   fmt.Sprintf("replica restarted after %s → serves the %d-server view again, %d restarts: p50 / max", kind, b.o.servers, b.o.restarts),
			value:  ms(percentile(s, 50)) + " / " + ms(s[len(s)-1]),
			target: "≤ 2 s",
			met:    s[len(s)-1] <= 2*time.Second,
		})
	}
	return figs, nil
}

// memory compares the resident memory of r, a replica serving the large
// registry that has just been restarted (so no sync of its own weighs on
// it), with unserved, restarted too, which follows the same records but
// serves only the small registry, before and after r is read; and reports
// the highest peak of any replica over the whole run.
func (b *bench) memory(ctx context.Context, r, unserved *replica) ([]figure, error) {
	peak := int64(0)
	for _, rep := range plus(b.replicas, unserved) {
		m, err := memoryOf(rep.p.Pid())
		if err != nil {
			return nil, err
		}
		peak = max(peak, m.peak)
	}
	if _, ok := unserved.p.Term(30 * time.Second); !ok {
		return nil, fmt.Errorf("replica %s did not end within 30s of SIGTERM", unserved.name)
	}
	if err := b.start(unserved); err != nil {
		return nil, err
	}
	if err := b.waitReady(ctx, unserved); err != nil {
		return nil, err
	}
	without, err := memoryOf(unserved.p.Pid())
	if err != nil {
		return nil, err
	}
	before, err := memoryOf(r.p.Pid())
	if err != nil {
		return nil, err
	}
	targets, _, err := b.pages(r)
	if err != nil {
		return nil, err
	}
	if _, err := b.load(ctx, r, requests(r, targets, nil), http.StatusOK, 0); err != nil {
		return nil, err
	}
	if _, err := b.walk(ctx, r); err != nil {
		return nil, err
	}
	during, err := memoryOf(r.p.Pid())
	if err != nil {
		return nil, err
	}
	// Once the reads have passed (no request for burst.Quiet), the replica
	// returns the memory their garbage grew; a second gives it the time.
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(time.Second):
	}
	after, err := memoryOf(r.p.Pid())
	if err != nil {
		return nil, err
	}
	added := after.rss - without.rss
	return []figure{
		{fmt.Sprintf("RSS after a restart: serving the %d-server registry, before reads / right after full-page load and a walk / 1 s later; following it without serving it", b.o.servers),
			mib(before.rss) + " / " + mib(during.rss) + " / " + mib(after.rss) + "; " + mib(without.rss), "—", true},
		{"serving the large registry adds (1 s after reads)", mib(added), "≤ 40 MiB", added <= 40<<20},
		{"peak RSS of any replica over the run (VmHWM, syncs of the large registry included)", mib(peak), "≤ 240 MiB", peak <= 240<<20},
	}, nil
}
