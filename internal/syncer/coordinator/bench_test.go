package coordinator

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/internal/bus"
	"github.com/regsync/regsync/internal/config"
)

// BenchmarkTriggerToResult measures one round trip through JetStream: a
// change trigger published for an edited file until its completed result
// arrives (fetch, validate, filter, store, status, result).
func BenchmarkTriggerToResult(b *testing.B) {
	h := newHarness(b)
	path := filepath.Join(h.dir, "registry.json")
	writeRegistry(b, path, alpha, beta)
	h.start([]config.Source{fileSource("local", path, nil)}, 0)
	res := h.results("local")
	h.request("local")
	res.completed()

	took := timeEdits(b, h, path, res)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkEditSyncOverASlowNetwork measures an edit's sync, from its
// trigger to its completed result, on a replica whose every message to
// the server is held back roundTrip (see delayedConn): a request waits
// that long for its answer, requests sent together wait it once. The
// time is then about roundTrip times the requests that wait for each
// other, which the machine's load hardly moves, so it is reported as
// round-trips (the median time over roundTrip; the sync's own work adds
// a fraction).
func BenchmarkEditSyncOverASlowNetwork(b *testing.B) {
	const roundTrip = 5 * time.Millisecond
	h := newHarnessTTL(b, time.Minute)
	path := filepath.Join(h.dir, "registry.json")
	writeRegistry(b, path, alpha, beta)
	srcs := []config.Source{fileSource("local", path, nil)}
	nc, err := nats.Connect("", nats.InProcessServer(delayedServer{h.emb.Server(), roundTrip}))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	hh, err := bus.Ensure(context.Background(), js, bus.Resources{Replicas: 1, LeaseTTL: h.leaseTTL})
	if err != nil {
		b.Fatal(err)
	}
	res := h.results("local")
	h.replicaOn(b, hh, js, "slow", srcs)
	h.request("local")
	res.completed()

	took := timeEdits(b, h, path, res)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[len(took)/2])/float64(roundTrip), "round-trips")
}

// delayedServer connects to an in-process server through a delayedConn.
type delayedServer struct {
	srv   nats.InProcessConnProvider
	delay time.Duration
}

func (d delayedServer) InProcessConn() (net.Conn, error) {
	conn, err := d.srv.InProcessConn()
	if err != nil {
		return nil, err
	}
	c := &delayedConn{Conn: conn, delay: d.delay, queue: make(chan delayedWrite, 4096), done: make(chan struct{})}
	go c.forward()
	return c, nil
}

// delayedConn passes every write on delay after it was made, in order,
// as a network whose latency is delay would (the answers come back at
// once: a round trip costs delay).
type delayedConn struct {
	net.Conn
	delay time.Duration
	queue chan delayedWrite
	done  chan struct{}
	once  sync.Once
}

type delayedWrite struct {
	due  time.Time
	data []byte
}

func (c *delayedConn) Write(p []byte) (int, error) {
	select {
	case c.queue <- delayedWrite{due: time.Now().Add(c.delay), data: bytes.Clone(p)}:
		return len(p), nil
	case <-c.done:
		return 0, net.ErrClosed
	}
}

func (c *delayedConn) forward() {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-c.done:
			return
		case w := <-c.queue:
			timer.Reset(time.Until(w.due))
			select {
			case <-c.done:
				return
			case <-timer.C:
			}
			if _, err := c.Conn.Write(w.data); err != nil {
				return
			}
		}
	}
}

func (c *delayedConn) Close() error {
	c.once.Do(func() { close(c.done) })
	return c.Conn.Close()
}

// timeEdits edits the registry file at path once per benchmark loop, each
// time announcing the change and waiting for its completed result, and
// returns how long each took, sorted.
func timeEdits(b *testing.B, h *harness, path string, res *resultSub) []time.Duration {
	var took []time.Duration
	descriptions := []string{"Beta server, revised", "Beta server"}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		changed := beta
		changed.description = descriptions[i%2]
		writeRegistry(b, path, alpha, changed)
		b.StartTimer()
		start := time.Now()
		h.changed("local", "")
		res.completed()
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(took)
	return took
}
