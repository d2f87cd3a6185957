package webhook

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	bursts "github.com/regsync/regsync/internal/burst"
	"github.com/regsync/regsync/internal/config"
)

// BenchmarkSlowBodyFloodHeap opens 200 connections that each announce a
// body just under the limit, send all of it but the last byte and stall,
// as in the review that took RSS from 49 MB to 821 MB. It reports the heap
// in use while they stall (bounded by the client's share of
// webhooks.maxUnverifiedBytes rather than by the number of connections)
// and checks that a signed delivery from another address is accepted
// meanwhile.
func BenchmarkSlowBodyFloodHeap(b *testing.B) {
	r, _, body := newBenchReceiver(b)
	// Memory is returned as serve returns it.
	srv := httptest.NewServer(bursts.New(debug.FreeOSMemory).Handler(r))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	const conns = 200
	chunk := bytes.Repeat([]byte(" "), 64<<10)
	var peak uint64
	for b.Loop() {
		var wg sync.WaitGroup
		stalled := make(chan net.Conn, conns)
		for range conns {
			wg.Go(func() {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Error(err)
					return
				}
				fmt.Fprintf(c, "POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
					"X-GitHub-Event: push\r\nX-Hub-Signature-256: sha256=%064d\r\nContent-Length: %d\r\n\r\n", 0, int(config.Default().Webhooks.MaxBodySize)-1)
				for left := int(config.Default().Webhooks.MaxBodySize) - 2; left > 0; left -= len(chunk) {
					if _, err := c.Write(chunk[:min(left, len(chunk))]); err != nil {
						break // answered early and closed: not held
					}
				}
				stalled <- c
			})
		}
		wg.Wait()
		close(stalled)
		time.Sleep(200 * time.Millisecond) // let the server read what was sent
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
		// A forge on another address is answered as usual.
		forge := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{
			LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)},
		}).DialContext}}
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/github", bytes.NewReader(body))
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-GitHub-Delivery", "during-the-flood")
		req.Header.Set("X-Hub-Signature-256", "sha256="+hmacHex(githubSecret, body))
		resp, err := forge.Do(req)
		if err != nil {
			b.Skipf("cannot send from 127.0.0.2 here: %v", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			b.Errorf("signed delivery during the flood: %d", resp.StatusCode)
		}
		for c := range stalled {
			c.Close()
		}
	}
	b.ReportMetric(float64(peak)/(1<<20), "heap-MB")
}
