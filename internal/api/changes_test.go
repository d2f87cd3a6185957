package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/testsupport"
)

// maxClients is api.maxSSEClients' default.
const maxClients = 256

// feedRig is a handler serving registry "default" over httptest, with
// one view per generation: generation n serves n servers.
type feedRig struct {
	h    *Handler
	srv  *httptest.Server
	base string
}

func newFeedRig(t *testing.T) *feedRig {
	t.Helper()
	h := NewHandler([]string{"default"}, testsupport.Logger(t))
	h.Feed().SetLimits(maxClients, DefaultHeartbeat)
	srv := httptest.NewUnstartedServer(h)
	srv.Config.RegisterOnShutdown(h.Feed().Close)
	srv.Start()
	t.Cleanup(srv.Close)
	return &feedRig{h: h, srv: srv, base: srv.URL + "/registry/default"}
}

// viewOf is the view of generation n, and the merged digest that
// registry.changed names for it.
func viewOf(t *testing.T, n int) (*View, string) {
	t.Helper()
	var c Content
	for i := 1; i <= n; i++ {
		c.Servers = append(c.Servers, server(fmt.Sprintf("io.example/s%d", i), "1.0.0", true))
	}
	return mustBuild(t, c), "merged-" + strconv.Itoa(n)
}

// apply makes generation n's view current on the handler and tells the
// feed, as the views follower does.
func (r *feedRig) apply(t *testing.T, n int) {
	t.Helper()
	v, digest := viewOf(t, n)
	if err := r.h.Swap("default", v); err != nil {
		t.Fatal(err)
	}
	r.h.Feed().Applied("default", digest, v)
}

// record tells the feed of generation n's registry.changed event.
func (r *feedRig) record(n int) {
	r.h.Feed().Record(changeOf(n))
}

func changeOf(n int) events.RegistryChanged {
	return events.RegistryChanged{Registry: "default", Reason: events.RegistryReasonSourceChanged,
		Generation: uint64(n), PreviousGeneration: uint64(n - 1), ViewDigest: "merged-" + strconv.Itoa(n),
		ServerCount: n, Diff: events.RegistryDiff{ViewDiff: events.ViewDiff{Diff: events.Diff{
			Added: []string{fmt.Sprintf("io.example/s%d", n)}, AddedCount: 1}}}}
}

// sse is a connected feed client.
type sse struct {
	resp *http.Response
	rd   *bufio.Reader
}

type sseEvent struct {
	id, name string
	data     FeedEvent
}

// connect opens the feed, with Last-Event-ID when lastID is not "-".
func (r *feedRig) connect(t *testing.T, lastID string) *sse {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, r.base+"/v0.1/x/dev.regsync/changes", nil)
	if err != nil {
		t.Fatal(err)
	}
	if lastID != "-" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET changes: %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	return &sse{resp: resp, rd: bufio.NewReader(resp.Body)}
}

// next reads the next event, skipping comment lines.
func (s *sse) next(t *testing.T) sseEvent {
	t.Helper()
	var ev sseEvent
	for {
		line, err := s.rd.ReadString('\n')
		if err != nil {
			t.Fatalf("read event: %v", err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "" && ev.name != "":
			return ev
		case strings.HasPrefix(line, "id: "):
			ev.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.data); err != nil {
				t.Fatalf("data %q: %v", line, err)
			}
		}
	}
}

// expect reads events and checks their names and ids.
func (s *sse) expect(t *testing.T, want ...string) []sseEvent {
	t.Helper()
	var got []sseEvent
	for _, w := range want {
		ev := s.next(t)
		if ev.name+" "+ev.id != w {
			t.Fatalf("event %q %q, want %q", ev.name, ev.id, w)
		}
		got = append(got, ev)
	}
	return got
}

func TestFeedSendsEachGenerationOnceTheViewHasIt(t *testing.T) {
	r := newFeedRig(t)
	r.apply(t, 1)
	r.record(1)
	r.h.Feed().Loaded()
	c := r.connect(t, "-")

	r.record(2)
	if g := r.h.Feed().Generations()["default"]; g != 1 {
		t.Fatalf("generation 2 sent before the view had it: at %d", g)
	}
	r.apply(t, 2)
	ev := c.expect(t, "changed 2")[0]
	if ev.data.Registry != "default" || ev.data.Generation != 2 || ev.data.ServerCount != 2 ||
		ev.data.Diff == nil || strings.Join(ev.data.Diff.Added, ",") != "io.example/s2" {
		t.Fatalf("event data %+v", ev.data)
	}
	resp, _ := fetch(t, r.base+"/v0.1/servers")
	if tag := resp.Header.Get("ETag"); tag != ev.data.ETag {
		t.Fatalf("listing re-read after the event has ETag %s, the event names %s", tag, ev.data.ETag)
	}

	// A view ahead of the events sends each event once it comes, in order.
	r.apply(t, 3)
	r.apply(t, 4)
	r.record(3)
	r.record(4)
	for _, ev := range c.expect(t, "changed 3", "changed 4") {
		resp, _ := fetch(t, r.base+"/v0.1/servers")
		if tag := resp.Header.Get("ETag"); tag != ev.data.ETag {
			t.Fatalf("generation %d names ETag %s, the listing has %s", ev.data.Generation, ev.data.ETag, tag)
		}
	}
}

func TestFeedResumesAfterLastEventID(t *testing.T) {
	r := newFeedRig(t)
	for n := 1; n <= 5; n++ {
		r.apply(t, n)
		r.record(n)
	}
	r.h.Feed().Loaded()

	c := r.connect(t, "2")
	c.expect(t, "changed 3", "changed 4", "changed 5")
	r.apply(t, 6)
	r.record(6)
	c.expect(t, "changed 6")

	up := r.connect(t, "6")
	r.apply(t, 7)
	r.record(7)
	up.expect(t, "changed 7")
}

func TestFeedResetsAnIDItsHistoryDoesNotHold(t *testing.T) {
	r := newFeedRig(t)
	for n := 10; n <= 12; n++ {
		r.apply(t, n)
		r.h.Feed().Record(changeOf(n))
	}
	r.h.Feed().Loaded()
	resp, _ := fetch(t, r.base+"/v0.1/servers")
	for _, id := range []string{"3", "8", "13", "not-a-number"} {
		t.Run(id, func(t *testing.T) {
			ev := r.connect(t, id).expect(t, "reset 12")[0]
			if ev.data.Generation != 12 || ev.data.ETag != resp.Header.Get("ETag") {
				t.Fatalf("reset data %+v", ev.data)
			}
		})
	}
	r.connect(t, "9").expect(t, "changed 10", "changed 11", "changed 12")
}

func TestFeedRefusesClientsBeyondTheLimit(t *testing.T) {
	r := newFeedRig(t)
	r.apply(t, 1)
	r.record(1)
	r.h.Feed().Loaded()
	var clients []*sse
	for range maxClients {
		clients = append(clients, r.connect(t, "-"))
	}
	resp, body := fetch(t, r.base+"/v0.1/x/dev.regsync/changes")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "too many change feed clients") {
		t.Fatalf("client %d: %s %s", maxClients+1, resp.Status, body)
	}
	clients[0].resp.Body.Close()
	testsupport.Eventually(t, "the closed client to leave", func() bool {
		return r.h.Feed().Clients() < maxClients
	})
	r.connect(t, "-")
}

func TestFeedDropsAClientThatFallsBehind(t *testing.T) {
	f := newFeed(testsupport.Logger(t))
	f.SetLimits(2, DefaultHeartbeat)
	v, _ := viewOf(t, 1)
	slow, _, rerr := f.subscribe("default", "", false)
	if rerr != nil {
		t.Fatal(rerr.msg)
	}
	fast, _, _ := f.subscribe("default", "", false)
	got := 0
	for n := 1; n <= feedBuffer+1; n++ {
		f.Applied("default", "merged-"+strconv.Itoa(n), v)
		f.Record(changeOf(n))
		<-fast.frames
		got++
	}
	select {
	case <-slow.gone:
	default:
		t.Fatalf("a client with %d unsent events is still fed", feedBuffer+1)
	}
	if got != feedBuffer+1 {
		t.Fatalf("the client that keeps up got %d events", got)
	}
}

func TestFeedAnswersLikeEveryRoute(t *testing.T) {
	r := newFeedRig(t)
	path := "/v0.1/x/dev.regsync/changes"
	resp, body := fetch(t, r.base+path)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("before the views are loaded: %s %s", resp.Status, body)
	}
	r.apply(t, 1)
	resp, body = fetch(t, r.base+path)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("before the history is read: %s %s", resp.Status, body)
	}
	r.h.Feed().Loaded()
	resp, body = fetch(t, r.srv.URL+"/registry/nope"+path)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown registry: %s %s", resp.Status, body)
	}
	r.h.SetRegistries([]string{"default"}, map[string]string{"default": "it has claims"})
	resp, body = fetch(t, r.base+path)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "it has claims") {
		t.Fatalf("claimed registry: %s %s", resp.Status, body)
	}
	r.h.SetRegistries([]string{"default"}, nil)
	resp, _ = fetch(t, r.base+path, "Method", http.MethodHead)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("HEAD: %s %v", resp.Status, resp.Header)
	}
}

func TestFeedSendsACommentWhenIdle(t *testing.T) {
	r := newFeedRig(t)
	r.h.Feed().SetLimits(maxClients, 1)
	r.apply(t, 1)
	r.h.Feed().Loaded()
	c := r.connect(t, "-")
	for {
		line, err := c.rd.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == ": keep-alive\n" {
			return
		}
	}
}

func TestFeedEndsOnShutdown(t *testing.T) {
	r := newFeedRig(t)
	r.apply(t, 1)
	r.record(1)
	r.h.Feed().Loaded()
	clients := []*sse{r.connect(t, "-"), r.connect(t, "0")}
	err := testsupport.Returns(t, "shutdown with feed clients connected", func() error {
		return r.srv.Config.Shutdown(context.Background())
	})
	if err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	for _, c := range clients {
		for {
			if _, err := c.rd.ReadString('\n'); err != nil {
				break // the stream ended
			}
		}
	}
}

// A stream outlives the server's read and write timeouts, which bound
// ordinary requests: the feed sets its own deadline for each write.
func TestFeedOutlivesTheServerTimeouts(t *testing.T) {
	h := NewHandler([]string{"default"}, testsupport.Logger(t))
	h.Feed().SetLimits(maxClients, DefaultHeartbeat)
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ReadHeaderTimeout = time.Minute
	// Deadlines past as soon as they are set.
	srv.Config.ReadTimeout = time.Nanosecond
	srv.Config.WriteTimeout = time.Nanosecond
	srv.Start()
	t.Cleanup(srv.Close)
	r := &feedRig{h: h, srv: srv, base: srv.URL + "/registry/default"}
	r.apply(t, 1)
	r.record(1)
	h.Feed().Loaded()
	c := r.connect(t, "-")
	r.apply(t, 2)
	r.record(2)
	c.expect(t, "changed 2")
}

// A registry whose generations start again (its status record was
// recreated) resets every client, and a repeat of a generation is not
// sent twice.
func TestFeedResetsWhenGenerationsStartAgain(t *testing.T) {
	r := newFeedRig(t)
	for n := 1; n <= 3; n++ {
		r.apply(t, n)
		r.record(n)
	}
	r.h.Feed().Loaded()
	c := r.connect(t, "-")
	r.record(3)
	r.apply(t, 1)
	r.record(1)
	c.expect(t, "reset 0", "changed 1")
	r.record(1) // a repeat of the first generation is no new start
	r.apply(t, 2)
	r.record(2)
	c.expect(t, "changed 2")
}
