package webhook

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/testsupport"
)

// slowBody is a request body that sends all but its last byte and then
// stalls until the test ends.
type slowBody struct {
	r    io.Reader
	stop chan struct{}
}

func (b *slowBody) Read(p []byte) (int, error) {
	if n, err := b.r.Read(p); err != io.EOF {
		return n, err
	}
	<-b.stop
	return 0, io.ErrUnexpectedEOF
}

func (b *slowBody) Close() error { return nil }

// A flood of slow unsigned bodies holds no more than the bound of
// unverified bytes: requests past a client's share are answered 429 and
// past the total 503, at once and before their body is read, while a
// signed delivery from another address is still accepted.
func TestSlowBodyFlood(t *testing.T) {
	const maxBody = 64 << 10
	const total = 8 * maxBody
	ev, push := pushOf(t, events.ProviderGitHub)
	cases := []struct {
		name string
		// addr is the address of the flood's n-th connection.
		addr       func(n int) string
		wantStatus int
		wantHeld   int64
		// signed is the answer to a signed delivery during the flood.
		signed int
	}{
		{"one client with many connections", func(int) string { return "198.51.100.7:1234" },
			http.StatusTooManyRequests, 2 * (maxBody - 1), http.StatusAccepted},
		{"many clients", func(n int) string { return fmt.Sprintf("198.51.100.%d:1234", n) },
			http.StatusServiceUnavailable, 8 * (maxBody - 1), http.StatusServiceUnavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newTestReceiver(t, testHooks(t), catalogSources, Options{MaxBody: maxBody, MaxUnverified: total})
			stop := make(chan struct{})
			var wg sync.WaitGroup
			answers := make(chan int, 50)
			for n := range 50 {
				req := httptest.NewRequest(http.MethodPost, PathPrefix+events.ProviderGitHub, nil)
				req.Body = &slowBody{r: bytes.NewReader(make([]byte, maxBody-2)), stop: stop}
				req.ContentLength = maxBody - 1
				req.Header.Set("X-Hub-Signature-256", "sha256="+hmacHex("not the secret", nil))
				req.Header.Set("X-GitHub-Event", "push")
				req.RemoteAddr = tc.addr(n + 1)
				wg.Go(func() {
					rec := httptest.NewRecorder()
					r.ServeHTTP(rec, req)
					answers <- rec.Code
				})
			}
			// Every request past the bound is answered while the others
			// stall.
			for range 50 - int(tc.wantHeld/(maxBody-1)) {
				select {
				case code := <-answers:
					if code != tc.wantStatus {
						t.Errorf("flood answered %d, want %d", code, tc.wantStatus)
					}
				case <-time.After(testsupport.Patience):
					close(stop)
					t.Fatal("requests past the bound wait for their body instead of being answered")
				}
			}
			if held := r.pending.inUse(); held != tc.wantHeld {
				t.Errorf("%d unverified bytes held, want %d", held, tc.wantHeld)
			}
			d := signed(events.ProviderGitHub, githubSecret, ev, "d-during-flood", push).request()
			d.RemoteAddr = "203.0.113.1:443"
			if res := r.serve(t, d); res.status != tc.signed {
				t.Errorf("signed delivery during the flood: %d, want %d: %s", res.status, tc.signed, res.raw)
			}
			close(stop)
			wg.Wait()
			if held := r.pending.inUse(); held != 0 {
				t.Errorf("%d bytes still held after the flood", held)
			}
			d = signed(events.ProviderGitHub, githubSecret, ev, "d-after-flood", push).request()
			if res := r.serve(t, d); res.status != http.StatusAccepted {
				t.Errorf("signed delivery after the flood: %d: %s", res.status, res.raw)
			}
		})
	}
}

// The unverified budget: a client's share, a reserve of a quarter kept
// for small bodies, and a client's share of that reserve.
func TestPendingReserve(t *testing.T) {
	const maxBody = 256 << 10
	p := newPending(8*maxBody, maxBody) // reserve 512 KiB, of which 64 KiB per client
	steps := []struct {
		client string
		n      int64
		large  bool
		want   error
	}{
		{"a", maxBody, true, nil},
		{"a", maxBody, true, nil},
		{"a", 1, false, errClientFull}, // twice maxBody per client
		{"b", maxBody, true, nil},
		{"c", maxBody, true, nil},
		{"d", maxBody, true, nil},
		{"e", maxBody, true, nil},    // 1.5 MiB held: down to the reserve
		{"f", 1, true, errTotalFull}, // large bodies stop at the reserve
		{"f", smallBody, false, nil}, // small ones go on
		{"f", 1, false, errClientFull},
		{"g", smallBody, false, nil},
		{"h", smallBody, false, nil},
		{"i", smallBody, false, nil},
		{"j", smallBody, false, nil},
		{"k", smallBody, false, nil},
		{"l", smallBody, false, nil},
		{"m", smallBody, false, nil}, // the reserve is full
		{"n", 1, false, errTotalFull},
	}
	for i, s := range steps {
		if err := p.reserve(s.client, s.n, s.large); err != s.want {
			t.Fatalf("step %d: reserve(%s, %d, large %v) = %v, want %v", i, s.client, s.n, s.large, err, s.want)
		}
	}
	p.release("a", 2*maxBody)
	if err := p.reserve("n", maxBody, true); err != errTotalFull {
		t.Errorf("a large body while small ones hold the reserve: %v, want %v", err, errTotalFull)
	}
	for _, c := range "ghijklm" {
		p.release(string(c), smallBody)
	}
	if err := p.reserve("n", maxBody, true); err != nil {
		t.Errorf("a large body once bytes are released: %v", err)
	}
	if held := p.inUse(); held != 5*maxBody+smallBody {
		t.Errorf("%d bytes held, want %d", held, 5*maxBody+smallBody)
	}
}
