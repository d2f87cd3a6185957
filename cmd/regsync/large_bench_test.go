package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/bus"
	"github.com/regsync/regsync/internal/registry/registrytest"
	"github.com/regsync/regsync/internal/testsupport"
)

// BenchmarkLargeRegistry runs `regsync serve` as its own process, with the
// default configuration and one file source holding a generated registry
// of 10,000 servers (about 35 MB) or 100,000 (about 350 MB), and edits
// the file: it reports the time from the write to the completed result
// (p50, p99) and the peak resident memory of the process (VmHWM) after
// the start-up sync and at the end. Each edit changes one server in a
// hundred.
func BenchmarkLargeRegistry(b *testing.B) {
	bin := buildRegsync(b)
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("servers=%d", n), func(b *testing.B) {
			regPath := filepath.Join(b.TempDir(), "registry.json")
			versions := [][]byte{registrytest.Large(n, 0), registrytest.Large(n, 1)}
			pid, next := serveLarge(b, bin, regPath, versions[0])
			startupRSS := peakRSS(b, pid)

			var took []time.Duration
			for i := 0; b.Loop(); i++ {
				start := time.Now()
				if err := os.WriteFile(regPath, versions[(i+1)%2], 0o644); err != nil {
					b.Fatal(err)
				}
				waitCompleted(b, next)
				took = append(took, time.Since(start))
			}
			b.StopTimer()
			reportPercentiles(b, took, "")
			b.ReportMetric(float64(startupRSS)/(1<<20), "startup-peak-RSS-MiB")
			b.ReportMetric(float64(peakRSS(b, pid))/(1<<20), "peak-RSS-MiB")
		})
	}
}

// buildRegsync builds the regsync binary for benchmarks that run `regsync
// serve` as a process of its own.
func buildRegsync(b *testing.B) string {
	bin := filepath.Join(b.TempDir(), "regsync")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("build regsync: %v\n%s", err, out)
	}
	return bin
}

// serveLarge writes content to regPath and runs bin as `regsync serve`,
// with the default configuration and one file source "large" on regPath
// (so one registry "large" of it), until the benchmark ends. It returns
// the process id and the next result's data, once the start-up sync has
// completed.
func serveLarge(b *testing.B, bin, regPath string, content []byte) (int, func() events.Data) {
	pid, next := serveLargeStored(b, bin, regPath, content)
	return pid, func() events.Data { return next().data }
}

// serveLargeStored is serveLarge, each result with the time it was stored.
func serveLargeStored(b *testing.B, bin, regPath string, content []byte) (int, func() stored) {
	dir := b.TempDir()
	if err := os.WriteFile(regPath, content, 0o644); err != nil {
		b.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	cfg := fmt.Sprintf("dataDir: %s\nnats: {embedded: {listen: %q}}\nhttp: {addr: %q}\nsources:\n  - name: large\n    file: {path: %s}\n    syncPolicy: {interval: 30m}\n",
		filepath.Join(dir, "data"), anyPort, anyPort, regPath)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		b.Fatal(err)
	}
	// At level info serve reports the address it listens on.
	cmd := exec.Command(bin, "serve", "--config", cfgPath, "--log-level", "info")
	var log testsupport.Buffer
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		if b.Failed() {
			b.Logf("serve log:\n%s", log.String())
		}
	})
	next := followStored(b, cfgPath, "nats://"+natsAddr(b, &log))
	waitCompleted(b, func() events.Data { return next().data }) // the start-up sync
	return cmd.Process.Pid, next
}

// reportPercentiles reports the p50 and p99 of took, in milliseconds, as
// metrics named p50-ms and p99-ms after prefix.
func reportPercentiles(b *testing.B, took []time.Duration, prefix string) {
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, prefix+"p50-ms")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, prefix+"p99-ms")
}

// stored is an event of the results stream with the time the stream
// stored it.
type stored struct {
	data events.Data
	at   time.Time
}

// followStored connects to the NATS of the serve process running
// configPath at url once it answers, as a client command does (with the
// embedded server's generated password), and returns the next result's
// data with the time the stream stored it, from the start of the results
// stream.
func followStored(b *testing.B, configPath, url string) func() stored {
	var js jetstream.JetStream
	deadline := time.Now().Add(2 * time.Minute)
	for {
		opts, err := (&globals{config: configPath, natsURL: url}).clientOptions()
		var nc *nats.Conn
		if err == nil {
			nc, err = bus.Connect(opts)
		}
		if err == nil {
			b.Cleanup(nc.Close)
			js, err = jetstream.New(nc)
		}
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the NATS of %s never answered: %v", configPath, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nextStored(b, js, deadline)
}

// nextStored returns the next event of the results stream, from its start,
// and the time it was stored; it tries to make the consumer until
// deadline.
func nextStored(b *testing.B, js jetstream.JetStream, deadline time.Time) func() stored {
	ctx := context.Background()
	var msgs jetstream.MessagesContext
	for {
		cons, err := js.OrderedConsumer(ctx, events.StreamResults, jetstream.OrderedConsumerConfig{})
		if err == nil {
			// One pull subscription for every result: a fetch per result
			// would subscribe and unsubscribe on the server each time,
			// which the service under measurement pays for too.
			if msgs, err = cons.Messages(); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("results stream: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Cleanup(msgs.Stop)
	return func() stored {
		msg, err := msgs.Next(jetstream.NextMaxWait(5 * time.Minute))
		if err != nil {
			b.Fatalf("next result: %v", err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			b.Fatal(err)
		}
		ev, err := events.Decode(msg.Headers(), msg.Data())
		if err != nil {
			b.Fatal(err)
		}
		d, err := events.DataOf(ev)
		if err != nil {
			b.Fatal(err)
		}
		return stored{data: d, at: meta.Timestamp}
	}
}

func waitCompleted(b *testing.B, next func() events.Data) {
	for {
		switch d := next().(type) {
		case events.SyncCompleted:
			return
		case events.SyncFailed:
			b.Fatalf("sync failed: %s", d.Message)
		}
	}
}

// peakRSS is the process's peak resident set size in bytes (Linux).
func peakRSS(b *testing.B, pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Skipf("peak RSS needs /proc: %v", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmHWM in /proc status")
	return 0
}
