package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// connServer is an httptest server that counts the connections it
// accepted, so a test sees whether a conn kept or replaced its own.
func connServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func hostOf(srv *httptest.Server) string { return strings.TrimPrefix(srv.URL, "http://") }

// A conn answers status, ETag and body as the server sent them, and
// sends If-None-Match when given; its requests share one connection.
func TestConnReadsStatusETagAndBody(t *testing.T) {
	srv, conns := connServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `W/"v1"`)
		if r.Header.Get("If-None-Match") == `W/"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		io.WriteString(w, "path "+r.URL.RequestURI())
	})
	c := newConn(hostOf(srv))
	defer c.close()
	res, err := c.do(buildRequest(hostOf(srv), "/a?b=c", ""), true)
	if err != nil {
		t.Fatal(err)
	}
	if res.code != http.StatusOK || res.etag != `W/"v1"` || string(res.body) != "path /a?b=c" {
		t.Fatalf("got %d %q %q", res.code, res.etag, res.body)
	}
	res, err = c.do(buildRequest(hostOf(srv), "/a", `W/"v1"`), true)
	if err != nil {
		t.Fatal(err)
	}
	if res.code != http.StatusNotModified || len(res.body) != 0 {
		t.Fatalf("If-None-Match: got %d %q", res.code, res.body)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for two requests, want 1", n)
	}
}

// A connection the server closed, while idle or by answering
// Connection: close, is replaced: the next request is answered.
func TestConnReconnectsAfterAClose(t *testing.T) {
	srv, conns := connServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("last") != "" {
			w.Header().Set("Connection", "close")
		}
		io.WriteString(w, "ok")
	})
	c := newConn(hostOf(srv))
	defer c.close()
	get := func(target string) {
		t.Helper()
		res, err := c.do(buildRequest(hostOf(srv), target, ""), true)
		if err != nil || res.code != http.StatusOK || string(res.body) != "ok" {
			t.Fatalf("%s: %+v, %v", target, res, err)
		}
	}
	get("/")
	srv.CloseClientConnections()
	get("/")
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections after the server closed one, want 2", n)
	}
	get("/?last=1")
	get("/")
	if n := conns.Load(); n != 3 {
		t.Fatalf("%d connections after an answer with Connection: close, want 3", n)
	}
}

// Chunked and gzip bodies are read to their end, kept or discarded: the
// next answer on the connection is read whole too.
func TestConnReadsChunkedAndGzipBodiesToTheEnd(t *testing.T) {
	text := strings.Repeat("a chunk of a listing ", 2000)
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	io.WriteString(zw, text)
	zw.Close()
	srv, conns := connServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/gzip" {
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(zipped.Bytes())
			return
		}
		for i := 0; i < len(text); i += 5000 {
			io.WriteString(w, text[i:min(i+5000, len(text))])
			w.(http.Flusher).Flush() // no Content-Length: chunked
		}
	})
	c := newConn(hostOf(srv))
	defer c.close()
	for _, keep := range []bool{true, false, true} {
		res, err := c.do(buildRequest(hostOf(srv), "/chunked", ""), keep)
		if err != nil {
			t.Fatal(err)
		}
		if keep && string(res.body) != text {
			t.Fatalf("chunked body of %d bytes, want %d", len(res.body), len(text))
		}
		res, err = c.do(buildRequest(hostOf(srv), "/gzip", ""), keep)
		if err != nil {
			t.Fatal(err)
		}
		if keep && !bytes.Equal(res.body, zipped.Bytes()) {
			t.Fatalf("gzip body of %d bytes, want the %d sent", len(res.body), zipped.Len())
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for six requests, want 1: a body was not read to its end", n)
	}
}

// A server that is not there is an error that names the address.
func TestConnNamesTheAddressItCannotReach(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = newConn(addr).do(buildRequest(addr, "/", ""), false)
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("error %v does not name %s", err, addr)
	}
}

// replicaOf is a replica whose HTTP address is srv's.
func replicaOf(t *testing.T, srv *httptest.Server) *replica {
	t.Helper()
	_, port, err := net.SplitHostPort(hostOf(srv))
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{name: "test"}
	if _, err := fmt.Sscan(port, &r.httpPort); err != nil {
		t.Fatal(err)
	}
	return r
}

// An open-loop run counts each latency from the request's scheduled
// send: against a server slower than the schedule, the clients fall
// behind, the waits count, and the rate is not sustained. A closed-loop
// run of the same server counts from each send.
func TestOpenLoopCountsFromTheSchedule(t *testing.T) {
	const service = 10 * time.Millisecond
	srv, _ := connServer(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(service) // the server's service time, not a wait for anything
		io.WriteString(w, "ok")
	})
	r := replicaOf(t, srv)
	b := &bench{o: &options{clients: 2, duration: 100 * time.Millisecond}}
	reqs := requests(r, []string{"/a", "/b"}, nil)
	// 1,000/s over 2 clients: each is asked for a request every 2 ms and
	// can answer one every 10 ms at best, so request n of a client ends
	// at least 8n+10-1 ms after its scheduled time; a client stops once a
	// whole run (100 ms) behind, after about 13.
	open, err := b.load(context.Background(), r, reqs, http.StatusOK, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if open.scheduled != 100 || open.answered >= open.scheduled || open.sustained {
		t.Fatalf("open loop: %+v, want 100 scheduled, fewer answered, not sustained", open)
	}
	if open.p99 < 50*time.Millisecond {
		t.Fatalf("open loop p99 %s: the clients' lag behind the schedule is not counted", open.p99)
	}
	closed, err := b.load(context.Background(), r, reqs, http.StatusOK, 0)
	if err != nil {
		t.Fatal(err)
	}
	if closed.scheduled != 0 || closed.answered == 0 || closed.p50 < service {
		t.Fatalf("closed loop: %+v", closed)
	}
}

// Every request of an open-loop run is sent, to the targets in turn, and
// an answer of another status stops the run with an error naming it.
func TestLoadSendsEveryRequestAndChecksStatus(t *testing.T) {
	var seen sync.Map
	var n atomic.Int64
	srv, conns := connServer(t, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		seen.Store(r.URL.Path, true)
		if r.URL.Path == "/gone" {
			w.WriteHeader(http.StatusNotFound)
		}
	})
	r := replicaOf(t, srv)
	b := &bench{o: &options{clients: 4, duration: 200 * time.Millisecond}}
	run, err := b.load(context.Background(), r, requests(r, []string{"/a", "/b", "/c"}, nil), http.StatusOK, 500)
	if err != nil {
		t.Fatal(err)
	}
	if run.scheduled != 100 || int64(run.answered) != n.Load() {
		t.Fatalf("%+v: want 100 scheduled, and as many answered as the server saw (%d)", run, n.Load())
	}
	for _, p := range []string{"/a", "/b", "/c"} {
		if _, ok := seen.Load(p); !ok {
			t.Errorf("%s was never asked", p)
		}
	}
	if c := conns.Load(); c != 4 {
		t.Errorf("%d connections for 4 clients, want one each", c)
	}
	_, err = b.load(context.Background(), r, requests(r, []string{"/gone"}, nil), http.StatusOK, 500)
	if err == nil || !strings.Contains(err.Error(), "404, want 200") {
		t.Fatalf("error %v, want one naming the 404", err)
	}
}

// rawServer answers every request read on a connection with answer, as
// is, and allocates nothing per request: a test that counts the
// process's allocations counts the client's alone.
func rawServer(t *testing.T, answer string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				buf := make([]byte, 4096)
				out := []byte(answer)
				tail := 0 // bytes of "\r\n\r\n" matched so far
				for {
					n, err := nc.Read(buf)
					if err != nil {
						return
					}
					for _, b := range buf[:n] {
						switch {
						case b == "\r\n\r\n"[tail]:
							tail++
						case b == '\r':
							tail = 1
						default:
							tail = 0
						}
						if tail == 4 {
							tail = 0
							if _, err := nc.Write(out); err != nil {
								return
							}
						}
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// A load client's request costs no allocation once its connection is
// open: whatever the tool allocates per request is collected on the
// cores the replica runs on, and its collections hold up every client.
func TestConnAllocatesNothingPerRequest(t *testing.T) {
	for _, answer := range []string{
		"HTTP/1.1 304 Not Modified\r\nCache-Control: no-cache\r\nEtag: W/\"a1\"\r\nDate: Tue, 08 Dec 2026 02:00:00 GMT\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
	} {
		addr := rawServer(t, answer)
		c := newConn(addr)
		req := buildRequest(addr, "/registry/big/v0.1/servers", `W/"a1"`)
		if _, err := c.do(req, false); err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(200, func() {
			if _, err := c.do(req, false); err != nil {
				t.Fatal(err)
			}
		})
		c.close()
		if allocs != 0 {
			t.Errorf("%.1f allocations a request for the answer %q, want 0", allocs, strings.SplitN(answer, "\r\n", 2)[0])
		}
	}
}

// An answer that is not HTTP/1.x is an error that quotes what came.
func TestConnNamesAMalformedAnswer(t *testing.T) {
	for answer, want := range map[string]string{
		"SSH-2.0-OpenSSH_9.6\r\n\r\n":                                     `"SSH-2.0-OpenSSH_9.6"`,
		"HTTP/1.1 2x0 OK\r\n\r\n":                                         `"HTTP/1.1 2x0 OK"`,
		"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n":                  `Content-Length "ten"`,
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n": `chunk size "zz"`,
	} {
		addr := rawServer(t, answer)
		c := newConn(addr)
		_, err := c.do(buildRequest(addr, "/", ""), false)
		c.close()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("answer %q: error %v, want one naming %s", answer, err, want)
		}
	}
}

// A kept run writes every answered request's send and latency, in the
// order of the sends, under a line that says when the run started.
func TestKeptRunWritesItsLatenciesOverTime(t *testing.T) {
	srv, _ := connServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	r := replicaOf(t, srv)
	b := &bench{o: &options{clients: 4, duration: 100 * time.Millisecond, keep: true}, dir: t.TempDir()}
	run, err := b.load(context.Background(), r, requests(r, []string{"/a"}, nil), http.StatusOK, 400)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.writeLatencies("pages-open", r, run); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(b.dir, "latencies-pages-open.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if !strings.HasPrefix(lines[0], "# run started ") || lines[1] != "sent_ms\tlatency_ms" {
		t.Fatalf("head %q", lines[:2])
	}
	if len(lines)-2 != run.answered || run.answered != 40 {
		t.Fatalf("%d lines of latencies for %d answered, want 40", len(lines)-2, run.answered)
	}
	last := -1.0
	for _, l := range lines[2:] {
		var sent, latency float64
		if _, err := fmt.Sscanf(l, "%f\t%f", &sent, &latency); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if sent < last || latency <= 0 {
			t.Fatalf("line %q after a send at %.3f ms", l, last)
		}
		last = sent
	}
	// An open-loop run at 400/s over 100 ms schedules its last send at
	// 97.5 ms.
	if last != 97.5 {
		t.Fatalf("last send at %.3f ms, want 97.5", last)
	}
}
