package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/regsync/regsync/internal/testsupport"
)

// feedEvent is one event of a change feed.
type feedEvent struct {
	id, name string
	data     struct {
		Registry    string `json:"registry"`
		Generation  uint64 `json:"generation"`
		ETag        string `json:"etag"`
		ServerCount int    `json:"serverCount"`
	}
}

// feedStream is a connected change feed client. Its body is not closed by
// the test: serve's shutdown must end it.
type feedStream struct{ rd *bufio.Reader }

// openFeed connects to a registry's change feed, with Last-Event-ID
// unless lastID is "-"; it returns nil while the feed answers 503.
func openFeed(t *testing.T, base, lastID string) *feedStream {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/v0.1/x/dev.regsync/changes", nil)
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
	switch resp.StatusCode {
	case http.StatusOK:
		return &feedStream{rd: bufio.NewReader(resp.Body)}
	case http.StatusServiceUnavailable:
		resp.Body.Close()
		return nil
	}
	resp.Body.Close()
	t.Fatalf("GET changes: %s", resp.Status)
	return nil
}

// expect reads the next events and checks their names and ids
// ("changed 2").
func (s *feedStream) expect(t *testing.T, want ...string) []feedEvent {
	t.Helper()
	var got []feedEvent
	for _, w := range want {
		ev := s.next(t)
		if ev.name+" "+ev.id != w {
			t.Fatalf("event %s %s, want %s", ev.name, ev.id, w)
		}
		got = append(got, ev)
	}
	return got
}

// next reads the next event, skipping comments.
func (s *feedStream) next(t *testing.T) feedEvent {
	t.Helper()
	var ev feedEvent
	for {
		line, err := s.rd.ReadString('\n')
		if err != nil {
			t.Fatalf("read event: %v", err)
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" && ev.name != "" {
			break
		}
		if v, ok := strings.CutPrefix(line, "id: "); ok {
			ev.id = v
		} else if v, ok := strings.CutPrefix(line, "event: "); ok {
			ev.name = v
		} else if v, ok := strings.CutPrefix(line, "data: "); ok {
			if err := json.Unmarshal([]byte(v), &ev.data); err != nil {
				t.Fatalf("data %q: %v", v, err)
			}
		}
	}
	return ev
}

func TestChangeFeedFollowsFileEdits(t *testing.T) {
	svc, regPath := serveQuickStart(t, "")
	base := "http://" + svc.httpAddr + "/registry/quickstart"
	var live *feedStream
	testsupport.Eventually(t, "the change feed served", func() bool {
		live = openFeed(t, base, "0")
		return live != nil
	})
	// The first generations are the empty view and the startup sync's.
	var first uint64
	for first == 0 {
		if ev := live.next(t); ev.data.ServerCount == 4 {
			first = ev.data.Generation
		}
	}
	gen := func(n uint64) string { return strconv.FormatUint(first+n, 10) }

	raw, err := os.ReadFile(regPath)
	if err != nil {
		t.Fatal(err)
	}
	const was = "Current conditions and forecasts for any city, from public weather services"
	if !strings.Contains(string(raw), was) {
		t.Fatal("the quick-start registry no longer describes the weather server as expected")
	}
	for i, edit := range []string{"Forecasts, first edit", "Forecasts, second edit"} {
		writeAtomically(t, regPath, strings.Replace(string(raw), was, edit, 1))
		ev := live.expect(t, "changed "+gen(uint64(i+1)))[0]
		// Re-read after the event: the edit (or a later one) is served.
		l, a := listServers(t, base)
		if !strings.Contains(string(a.body), edit) {
			t.Fatalf("after generation %d the listing does not have %q: %v", ev.data.Generation, edit, l.names())
		}
		if a.etag != ev.data.ETag {
			t.Fatalf("after generation %d the listing's ETag is %s, the event names %s", ev.data.Generation, a.etag, ev.data.ETag)
		}
	}

	t.Run("a client resuming with Last-Event-ID gets exactly the missed events", func(t *testing.T) {
		openFeed(t, base, gen(0)).expect(t, "changed "+gen(1), "changed "+gen(2))
	})
	t.Run("an id the history does not hold gets a reset", func(t *testing.T) {
		ev := openFeed(t, base, gen(99)).expect(t, "reset "+gen(2))[0]
		if _, a := listServers(t, base); ev.data.ETag != a.etag {
			t.Errorf("reset names ETag %s, the listing has %s", ev.data.ETag, a.etag)
		}
	})
	t.Run("the feed's metrics", func(t *testing.T) {
		a := apiGet(t, "http://"+svc.httpAddr+"/metrics")
		for _, want := range []string{
			`regsync_registry_view_generation\{registry="quickstart"\} ` + gen(2) + "\n",
			"regsync_api_sse_clients 3\n",
			`regsync_registry_view_apply_seconds_count\{registry="quickstart"\} [1-9]`,
		} {
			if !regexp.MustCompile(want).Match(a.body) {
				t.Errorf("metrics lack %s:\n%s", want, grepLines(string(a.body), "regsync_"))
			}
		}
	})
	// The streams are left open: serve's shutdown (the test's cleanup)
	// must end them and return without error.
}
