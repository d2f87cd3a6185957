package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
)

// TestViewKeepsNoSecondCopyOfStoredEntries builds a view of 1,000 servers
// of 4 KB each and expects it to hold less than a quarter of their bytes
// on top of the records: the records' compact bytes are what it serves,
// not a copy of them. (Keeping a copy made a 10,000-server registry cost
// every replica its size twice.)
func TestViewKeepsNoSecondCopyOfStoredEntries(t *testing.T) {
	const n = 1000
	filler := strings.Repeat("x", 4000)
	c := Content{Servers: make([]ServerRecord, n)}
	size := 0
	for i := range c.Servers {
		c.Servers[i] = server(fmt.Sprintf("io.test/server-%04d", i), "1.0.0", true, fmt.Sprintf(`"filler":%q`, filler))
		size += len(c.Servers[i].JSON)
	}
	before := liveHeap()
	v := mustBuild(t, c)
	held := liveHeap() - before
	runtime.KeepAlive(c)
	runtime.KeepAlive(v)
	if held > uint64(size/4) {
		t.Errorf("the view of %d servers (%d bytes of JSON) holds %d bytes more, want under %d", n, size, held, size/4)
	}
}

// TestIndentedRecordIsServedCompact gives the view a record whose stored
// bytes are indented, as another writer may store them, and expects the
// ServerResponse to carry them compact.
func TestIndentedRecordIsServedCompact(t *testing.T) {
	r := server("io.test/indented", "1.0.0", true)
	var indented strings.Builder
	indented.WriteString("{\n  ")
	indented.Write(r.JSON[1:])
	r.JSON = []byte(indented.String())
	r.Digest = digestOf(r.JSON)
	want := server("io.test/indented", "1.0.0", true).JSON

	_, base := serveRegistry(t, Content{Servers: []ServerRecord{r}})
	resp, body := fetch(t, base+"/v0.1/servers/io.test%2Findented/versions/latest")
	if resp.StatusCode != 200 {
		t.Fatalf("GET: %d %s", resp.StatusCode, body)
	}
	var got struct {
		Server json.RawMessage `json:"server"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if string(got.Server) != string(want) {
		t.Errorf("served server:\n%s\nwant the stored bytes compacted:\n%s", got.Server, want)
	}
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestAnswersReuseTheirBuffers serves full pages of large entries, gzip
// and not, and expects each request to allocate far less than the page it
// answers: the body is built in a buffer that the next request reuses,
// not in a new one whose garbage grows the heap under load. (Each page
// was a new buffer of its size: under 64 clients, most of what a replica
// allocated.)
func TestAnswersReuseTheirBuffers(t *testing.T) {
	if raceEnabled {
		t.Skip("allocations are counted differently with -race")
	}
	const n = 100
	filler := strings.Repeat("x", 4000)
	c := Content{Servers: make([]ServerRecord, n)}
	for i := range c.Servers {
		c.Servers[i] = server(fmt.Sprintf("io.test/server-%04d", i), "1.0.0", true, fmt.Sprintf(`"filler":%q`, filler))
	}
	h := NewHandler([]string{"default"}, nil)
	if err := h.Swap("default", mustBuild(t, c)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, path, encoding string }{
		{"page", "/registry/default/v0.1/servers?limit=30", ""},
		{"gzip page", "/registry/default/v0.1/servers?limit=30", "gzip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tc.path, nil)
			if tc.encoding != "" {
				req.Header.Set("Accept-Encoding", tc.encoding)
			}
			size := 0
			serve := func() {
				w := &counting{h: http.Header{}}
				h.ServeHTTP(w, req)
				if w.code != 0 && w.code != http.StatusOK {
					t.Fatalf("status %d", w.code)
				}
				size = max(size, w.n)
			}
			serve() // the buffers exist from here on
			const requests = 50
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range requests {
				serve()
			}
			runtime.ReadMemStats(&after)
			perRequest := (after.TotalAlloc - before.TotalAlloc) / requests
			page := 30 * uint64(len(c.Servers[0].JSON))
			if perRequest > page/2 {
				t.Errorf("%d bytes allocated per request of a %d-byte body (entries of %d bytes), want under %d", perRequest, size, len(c.Servers[0].JSON), page/2)
			}
		})
	}
}

// counting is a ResponseWriter that counts the body's bytes and keeps
// none of them.
type counting struct {
	h    http.Header
	code int
	n    int
}

func (c *counting) Header() http.Header         { return c.h }
func (c *counting) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }
func (c *counting) WriteHeader(code int)        { c.code = code }
