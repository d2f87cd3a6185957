package api

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// loadClients is how many clients the read API's throughput target is
// measured with.
const loadClients = 64

// BenchmarkAPI64Clients is the read API's throughput target in one
// process: 64 concurrent clients over loopback HTTP against the real
// handler serving 10,000 servers (two versions each), asking for full
// 30-entry pages at spread positions, for those pages with their ETag
// (304), or searching. One operation is one request: ns/op is the
// inverse of the throughput; req/s, p50-ms and p99-ms are measured
// over every request of the run.
func BenchmarkAPI64Clients(b *testing.B) {
	h := bench10k(b)
	srv := httptest.NewServer(h)
	defer srv.Close()
	base := srv.URL + "/registry/default/v0.1/servers"
	page := func(i int) string {
		return base + "?cursor=" + encodeCursor(position{fmt.Sprintf("io.github.load/server-%05d", (i*7919)%9970), "1.1.0"})
	}
	// The ETags of the pages the 304 clients hold.
	const pages = 256
	tags := make([]string, pages)
	for i := range tags {
		resp, err := http.Get(page(i))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		tags[i] = resp.Header.Get("ETag")
	}
	searches := []string{"server-0999", "load/server-123", "serves io.github.load/server-0", "SERVER-0042"}
	for _, bc := range []struct {
		name string
		want int
		req  func(i int) (*http.Request, error)
	}{
		{"page", http.StatusOK, func(i int) (*http.Request, error) { return http.NewRequest(http.MethodGet, page(i%pages), nil) }},
		{"not-modified", http.StatusNotModified, func(i int) (*http.Request, error) {
			r, err := http.NewRequest(http.MethodGet, page(i%pages), nil)
			if err == nil {
				r.Header.Set("If-None-Match", tags[i%pages])
			}
			return r, err
		}},
		{"search", http.StatusOK, func(i int) (*http.Request, error) {
			return http.NewRequest(http.MethodGet, base+"?version=latest&search="+url.QueryEscape(searches[i%len(searches)]), nil)
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: loadClients, DisableCompression: true}}
			defer client.CloseIdleConnections()
			var (
				next  atomic.Int64
				mu    sync.Mutex
				times []time.Duration
			)
			b.SetParallelism((loadClients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			b.ReportAllocs()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for pb.Next() {
					req, err := bc.req(int(next.Add(1)))
					if err != nil {
						b.Error(err)
						return
					}
					t := time.Now()
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					mine = append(mine, time.Since(t))
					if resp.StatusCode != bc.want {
						b.Errorf("%s: %d, want %d", req.URL, resp.StatusCode, bc.want)
						return
					}
				}
				mu.Lock()
				times = append(times, mine...)
				mu.Unlock()
			})
			elapsed := time.Since(start)
			if len(times) == 0 {
				return
			}
			slices.Sort(times)
			b.ReportMetric(float64(len(times))/elapsed.Seconds(), "req/s")
			b.ReportMetric(float64(times[len(times)/2])/1e6, "p50-ms")
			b.ReportMetric(float64(times[len(times)*99/100])/1e6, "p99-ms")
		})
	}
}
