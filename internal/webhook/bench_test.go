package webhook

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/regsync/regsync/events"
	bursts "github.com/regsync/regsync/internal/burst"
	"github.com/regsync/regsync/internal/bus"
	"github.com/regsync/regsync/internal/config"
)

// encodingPublisher does what bus.Publisher does before the network:
// encode the event as a NATS message. It stores nothing.
type encodingPublisher struct{ n atomic.Int64 }

func (p *encodingPublisher) Source(producer string) string {
	return events.ProducerSource(testDeployment, producer)
}

func (p *encodingPublisher) Publish(_ context.Context, subject string, ev event.Event) (bus.Stored, error) {
	if _, err := events.Encode(subject, ev); err != nil {
		return bus.Stored{}, err
	}
	return bus.Stored{Event: ev, Sequence: uint64(p.n.Add(1))}, nil
}

// helloSources follow the repository of the GitHub sample payloads.
var helloSources = []config.Source{gitSource("hello", "https://github.com/Codertocat/Hello-World.git", "branch:master")}

// samplePush returns a GitHub push for helloSources: the real sample when
// it is there, else an equivalent one.
func samplePush() []byte {
	if body, err := os.ReadFile(githubTestdata + "push-with-new-branch.payload.json"); err == nil {
		return body
	}
	return []byte(`{"ref":"refs/heads/master","after":"6113728f27ae82c7b1a177c8d03f9e96e0adf246",` +
		`"repository":{"full_name":"Codertocat/Hello-World","html_url":"https://github.com/Codertocat/Hello-World","default_branch":"master"},` +
		`"pusher":{"name":"Codertocat"}}`)
}

func newBenchReceiver(b *testing.B) (*Receiver, *encodingPublisher, []byte) {
	hooks := config.Webhooks{GitHub: config.WebhookSecret{SecretFile: writeSecret(b, b.TempDir(), "gh", githubSecret)}}
	pub := &encodingPublisher{}
	r := New(pub, hooks, helloSources, Options{RatePerSecond: -1}, nil)
	return r, pub, samplePush()
}

func deliver(r *Receiver, body []byte, deliveryID string) int {
	req := httptest.NewRequest(http.MethodPost, "/webhooks/github", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", deliveryID)
	req.Header.Set("X-Hub-Signature-256", "sha256="+hmacHex(githubSecret, body))
	req.RemoteAddr = "192.0.2.10:40000"
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, req)
	return rec.Code
}

// BenchmarkDelivery202 is one signed GitHub push through ServeHTTP, from
// request to 202, with a publisher that only encodes.
func BenchmarkDelivery202(b *testing.B) {
	r, pub, body := newBenchReceiver(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if code := deliver(r, body, fmt.Sprintf("d-%d", i)); code != http.StatusAccepted {
			b.Fatalf("status %d", code)
		}
	}
	if pub.n.Load() != int64(i) {
		b.Fatalf("%d triggers for %d deliveries", pub.n.Load(), i)
	}
}

// burst sends n signed deliveries to url at once, from conc concurrent
// clients over keep-alive connections, and returns the latency of each 202,
// sorted.
func burst(tb testing.TB, url string, body []byte, n, conc int) []time.Duration {
	tb.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	sig := "sha256=" + hmacHex(githubSecret, body)
	lat := make([]time.Duration, n)
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				req, _ := http.NewRequest(http.MethodPost, url+"/webhooks/github", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-GitHub-Event", "push")
				req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("burst-%d", i))
				req.Header.Set("X-Hub-Signature-256", sig)
				start := time.Now()
				res, err := client.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
				lat[i] = time.Since(start)
				if err != nil || res.StatusCode != http.StatusAccepted {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		tb.Fatalf("%d of %d deliveries not accepted", f, n)
	}
	slices.Sort(lat)
	return lat
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

// BenchmarkBurst1000 sends 1,000 deliveries at once, from 64 clients
// over loopback HTTP, and reports the 202 latency p50 and p99.
func BenchmarkBurst1000(b *testing.B) {
	r, _, body := newBenchReceiver(b)
	// Memory is returned as serve returns it.
	srv := httptest.NewServer(bursts.New(debug.FreeOSMemory).Handler(r))
	defer srv.Close()
	var all []time.Duration
	for b.Loop() {
		all = append(all, burst(b, srv.URL, body, 1000, 64)...)
	}
	slices.Sort(all)
	b.ReportMetric(float64(percentile(all, 0.50).Microseconds()), "p50-µs")
	b.ReportMetric(float64(percentile(all, 0.99).Microseconds()), "p99-µs")
}

// A burst of 1,000 deliveries is accepted whole, with every trigger
// stored once.
func TestBurst1000(t *testing.T) {
	r := newTestReceiver(t, testHooks(t), helloSources, Options{})
	srv := httptest.NewServer(r)
	defer srv.Close()
	lat := burst(t, srv.URL, samplePush(), 1000, 64)
	if got := len(r.pub.triggers()); got != 1000 {
		t.Fatalf("%d triggers stored", got)
	}
	t.Logf("202 latency p50 %v, p99 %v", percentile(lat, 0.50), percentile(lat, 0.99))
}

// With the default limit, one client's burst is cut at the default burst
// and the rest is answered 429; the bucket refills at the default rate.
// The limiter's clock stands still, so how fast the test runs does not
// change the count.
func TestBurstRateLimited(t *testing.T) {
	limit := config.Default().Webhooks.RateLimit
	r := newTestReceiver(t, testHooks(t), catalogSources, Options{RatePerSecond: limit.PerSecond})
	now := time.Now()
	r.limit.now = func() time.Time { return now }
	ev, body := pushOf(t, events.ProviderGitHub)
	n := 0
	send := func() int {
		n++
		return r.send(t, signed(events.ProviderGitHub, githubSecret, ev, fmt.Sprintf("d-%d", n), body)).status
	}
	counts := map[int]int{}
	for range 300 {
		counts[send()]++
	}
	if want := map[int]int{http.StatusAccepted: limit.Burst, http.StatusTooManyRequests: 300 - limit.Burst}; !maps.Equal(counts, want) {
		t.Errorf("answers %v, want %v", counts, want)
	}
	now = now.Add(time.Duration(float64(time.Second) / limit.PerSecond))
	if got := []int{send(), send()}; !slices.Equal(got, []int{http.StatusAccepted, http.StatusTooManyRequests}) {
		t.Errorf("after one token's refill: %v, want one accepted and the next refused", got)
	}
}
