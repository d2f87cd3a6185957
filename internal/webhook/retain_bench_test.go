package webhook

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
	bursts "github.com/regsync/regsync/internal/burst"
	"github.com/regsync/regsync/internal/bus"
	"github.com/regsync/regsync/internal/bus/bustest"
	"github.com/regsync/regsync/internal/config"
)

// BenchmarkBurstRetainedHeap sends bursts of 10,000 signed deliveries from
// 128 concurrent senders through the receiver into an embedded JetStream
// taken by a worker, and reports the heap still live after the drain, per
// delivery: what a burst leaves behind once garbage is collected. It is
// JetStream's memory of every trigger id for the stream's duplicate
// window (so that redeliveries collapse), not anything of the receiver's.
// It also reports the heap memory held from the operating system once the
// burst has passed and serve's burst.Tracker has returned its memory:
// what the process keeps resident.
func BenchmarkBurstRetainedHeap(b *testing.B) {
	srv := bustest.Start(b, 0)
	// A worker that takes every trigger, as the coordinator does.
	cons, err := srv.JS.CreateOrUpdateConsumer(context.Background(), events.StreamTriggers, jetstream.ConsumerConfig{
		Durable: "bench", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 10_000,
	})
	if err != nil {
		b.Fatal(err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) { _ = m.Ack() })
	if err != nil {
		b.Fatal(err)
	}
	defer cc.Stop()
	hooks := config.Webhooks{GitHub: config.WebhookSecret{SecretFile: writeSecret(b, b.TempDir(), "gh", githubSecret)}}
	r := New(bus.Publisher{JS: srv.JS}, hooks, helloSources, Options{RatePerSecond: -1}, nil)
	// Memory is returned as serve returns it.
	returned := make(chan struct{})
	tracker := bursts.New(func() {
		debug.FreeOSMemory()
		returned <- struct{}{}
	})
	body := samplePush()
	const deliveries, senders = 10_000, 128
	live := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	// Warm up the server's buffers and caches.
	for i := range 100 {
		deliver(r, body, fmt.Sprintf("warm-%d", i))
	}
	before := live()
	burst := 0
	for b.Loop() {
		burst++
		next := make(chan int)
		var wg sync.WaitGroup
		for range senders {
			wg.Go(func() {
				for i := range next {
					tracker.Begin()
					if code := deliver(r, body, fmt.Sprintf("72d3162e-cc78-11e3-81ab-%06d%06d", burst, i)); code != 202 {
						b.Errorf("status %d", code)
					}
				}
			})
		}
		for i := range deliveries {
			next <- i
		}
		close(next)
		wg.Wait()
		// The burst passes (no delivery for burst.Quiet) and its memory
		// is returned before the next one, untimed.
		b.StopTimer()
		<-returned
		b.StartTimer()
	}
	b.StopTimer()
	// What the heap holds from the operating system once the last burst
	// has passed: the process's resident heap.
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	held := ms.HeapSys - ms.HeapReleased
	after := live()
	b.ReportMetric(float64(int64(after)-int64(before))/float64(burst*deliveries), "retained-B/delivery")
	b.ReportMetric(float64(held)/(1<<20), "held-after-burst-MiB")
}
