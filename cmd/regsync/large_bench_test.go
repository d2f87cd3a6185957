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
	bin := filepath.Join(b.TempDir(), "regsync")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("build regsync: %v\n%s", err, out)
	}
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("servers=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			regPath := filepath.Join(dir, "registry.json")
			versions := [][]byte{registrytest.Large(n, 0), registrytest.Large(n, 1)}
			if err := os.WriteFile(regPath, versions[0], 0o644); err != nil {
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
			next := followAllResults(b, cfgPath, "nats://"+natsAddr(b, &log))
			waitCompleted(b, next) // the start-up sync
			startupRSS := peakRSS(b, cmd.Process.Pid)

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
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(startupRSS)/(1<<20), "startup-peak-RSS-MiB")
			b.ReportMetric(float64(peakRSS(b, cmd.Process.Pid))/(1<<20), "peak-RSS-MiB")
		})
	}
}

// followAllResults connects to the NATS of the serve process running
// configPath at url once it answers, as a client command does (with the
// embedded server's generated password), and returns the next result's data, from
// the start of the results stream.
func followAllResults(b *testing.B, configPath, url string) func() events.Data {
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
	ctx := context.Background()
	var cons jetstream.Consumer
	for {
		var err error
		cons, err = js.OrderedConsumer(ctx, events.StreamResults, jetstream.OrderedConsumerConfig{})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("results stream: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return func() events.Data {
		msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Minute))
		if err != nil {
			b.Fatalf("next result: %v", err)
		}
		ev, err := events.Decode(msg.Headers(), msg.Data())
		if err != nil {
			b.Fatal(err)
		}
		d, err := events.DataOf(ev)
		if err != nil {
			b.Fatal(err)
		}
		return d
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
