package webhook

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/testsupport"
)

// pacedBody hands out its bytes in pieces of step, however small the
// reads, and moves the test clock on by pause between two pieces, as a
// sender of that pace would.
type pacedBody struct {
	r       *bytes.Reader
	step    int
	pause   time.Duration
	clock   *testClock
	started bool
	left    int // of the current piece
}

func (b *pacedBody) Read(p []byte) (int, error) {
	if b.r.Len() == 0 {
		return 0, io.EOF
	}
	if b.left == 0 {
		if b.started {
			b.clock.advance(b.pause)
		}
		b.started, b.left = true, b.step
	}
	n, err := b.r.Read(p[:min(len(p), b.left)])
	b.left -= n
	return n, err
}

func (b *pacedBody) Close() error { return nil }

// paddedPush is a signed GitHub push padded with spaces to size bytes.
func paddedPush(t *testing.T, size int) hook {
	t.Helper()
	ev, body := pushOf(t, events.ProviderGitHub)
	body = append(bytes.Repeat([]byte(" "), size-len(body)), body...)
	return signed(events.ProviderGitHub, githubSecret, ev, "d-paced", body)
}

// A body that arrives slower than the minimum rate after the grace is cut
// with 408 and a log line naming the client, whether or not it announced
// its length; one that keeps the pace, even after a pause within the
// grace, is read and accepted.
func TestSlowBodyCut(t *testing.T) {
	rate := defaultMinRate
	tests := []struct {
		name    string
		size    int
		chunked bool
		// wait is the pause before the first byte; step bytes then come
		// every pause.
		wait, pause time.Duration
		step        int
		want        int
	}{
		{"trickle of a KiB a second", 16 << 10, false, 0, time.Second, 1 << 10, http.StatusRequestTimeout},
		{"trickle without Content-Length", 16 << 10, true, 0, time.Second, 1 << 10, http.StatusRequestTimeout},
		{"nothing sent within the grace", 4 << 10, false, rate.grace + time.Second, 0, 4 << 10, http.StatusRequestTimeout},
		{"pause within the grace, then the minimum rate", 48 << 10, false, rate.grace - time.Second, rate.period / 2, int(rate.bytes / 2), http.StatusAccepted},
		{"the minimum rate without Content-Length", 48 << 10, true, 0, rate.period / 4, int(rate.bytes / 4), http.StatusAccepted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestReceiver(t, testHooks(t), catalogSources, Options{})
			req := paddedPush(t, tt.size).request()
			req.RemoteAddr = "198.51.100.23:4711"
			body, _ := io.ReadAll(req.Body)
			if tt.chunked {
				req.ContentLength = -1
			}
			paced := &pacedBody{r: bytes.NewReader(body), step: tt.step, pause: tt.pause, clock: r.clock}
			req.Body = io.NopCloser(io.MultiReader(&waitFirst{clock: r.clock, wait: tt.wait}, paced))
			res := r.serve(t, req)
			if res.status != tt.want {
				t.Fatalf("status %d, want %d: %s", res.status, tt.want, res.raw)
			}
			if held := r.pending.inUse(); held != 0 {
				t.Errorf("%d unverified bytes still held", held)
			}
			if tt.want == http.StatusAccepted {
				if len(r.pub.triggers()) != 1 {
					t.Errorf("published %v", r.pub.sources())
				}
				return
			}
			if !strings.Contains(res.answer.Error, "too slowly") {
				t.Errorf("answer %q does not say the body was too slow", res.answer.Error)
			}
			if res.header.Get("Connection") != "close" {
				t.Errorf("Connection %q, want close", res.header.Get("Connection"))
			}
			if !r.logs.Contains(`"remote_addr":"198.51.100.23:4711"`) || !r.logs.Contains("too slowly") {
				t.Errorf("no log line names the client and the cut:\n%s", r.logs.String())
			}
			if len(r.pub.triggers()) != 0 {
				t.Errorf("published %v", r.pub.sources())
			}
		})
	}
}

// waitFirst moves the test clock on by wait before a body's first byte.
type waitFirst struct {
	clock *testClock
	wait  time.Duration
}

func (w *waitFirst) Read([]byte) (int, error) {
	w.clock.advance(w.wait)
	return 0, io.EOF
}

// A body that stalls on a real connection, without a single read
// returning, is cut once it falls behind the minimum rate: the blocked
// read is interrupted and the client answered 408.
func TestStalledBodyCut(t *testing.T) {
	r := newTestReceiver(t, testHooks(t), catalogSources, Options{})
	r.Receiver.clock = wallClock{}
	r.minRate = minRate{grace: 10 * time.Millisecond, bytes: 64 << 10, period: 5 * time.Second}
	srv := httptest.NewServer(r)
	defer srv.Close()
	c, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
		"X-GitHub-Event: push\r\nX-Hub-Signature-256: sha256=%064d\r\nContent-Length: 1000\r\n\r\n{\"ref\":", 0)
	if err := c.SetReadDeadline(time.Now().Add(testsupport.Patience)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("status %d, want 408", resp.StatusCode)
	}
	if held := r.pending.inUse(); held != 0 {
		t.Errorf("%d unverified bytes still held", held)
	}
}

// Slow unsigned bodies over 64 KiB from many addresses take the budget
// down to its reserve and no further: they are answered 503 past it, while
// small signed deliveries from another address, with or without
// Content-Length, are still accepted, and a body of unknown length that
// grows past 64 KiB is answered 503 as it grows.
func TestReserveForSmallBodies(t *testing.T) {
	const maxBody = 256 << 10
	const total = 8 * maxBody
	const large = maxBody - 1
	r := newTestReceiver(t, testHooks(t), catalogSources, Options{MaxBody: maxBody, MaxUnverified: total})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	answers := make(chan int, 50)
	for n := range 50 {
		req := httptest.NewRequest(http.MethodPost, PathPrefix+events.ProviderGitHub, nil)
		req.Body = &slowBody{r: bytes.NewReader(make([]byte, large-1)), stop: stop}
		req.ContentLength = large
		req.Header.Set("X-Hub-Signature-256", "sha256="+hmacHex("not the secret", nil))
		req.Header.Set("X-GitHub-Event", "push")
		req.RemoteAddr = fmt.Sprintf("198.51.100.%d:1234", n+1)
		wg.Go(func() {
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, req)
			answers <- rec.Code
		})
	}
	// Three quarters of the budget is open to large bodies.
	const heldLarge = 6
	for range 50 - heldLarge {
		select {
		case code := <-answers:
			if code != http.StatusServiceUnavailable {
				t.Errorf("flood answered %d, want 503", code)
			}
		case <-time.After(testsupport.Patience):
			close(stop)
			t.Fatal("requests past the bound wait for their body instead of being answered")
		}
	}
	if held := r.pending.inUse(); held != heldLarge*large {
		t.Errorf("%d unverified bytes held, want %d", held, heldLarge*large)
	}
	ev, push := pushOf(t, events.ProviderGitHub)
	for i, chunked := range []bool{false, true} {
		d := signed(events.ProviderGitHub, githubSecret, ev, fmt.Sprintf("d-small-%d", i), push).request()
		d.RemoteAddr = "203.0.113.1:443"
		if chunked {
			d.ContentLength = -1
		}
		if res := r.serve(t, d); res.status != http.StatusAccepted {
			t.Errorf("small signed delivery (chunked %v) during the flood: %d: %s", chunked, res.status, res.raw)
		}
	}
	grown := signed(events.ProviderGitHub, githubSecret, ev, "d-grown", append(bytes.Repeat([]byte(" "), maxBody-len(push)), push...)).request()
	grown.RemoteAddr = "203.0.113.2:443"
	grown.ContentLength = -1
	if res := r.serve(t, grown); res.status != http.StatusServiceUnavailable {
		t.Errorf("a body of unknown length growing past 64 KiB during the flood: %d, want 503: %s", res.status, res.raw)
	}
	close(stop)
	wg.Wait()
	if held := r.pending.inUse(); held != 0 {
		t.Errorf("%d bytes still held after the flood", held)
	}
}
