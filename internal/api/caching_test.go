package api

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"
)

func TestETagAnswers304WithoutBody(t *testing.T) {
	_, base := serveRegistry(t, routeContent())
	for _, path := range []string{
		"/v0.1/servers", "/v0.1/servers?limit=1&version=latest", "/v0.1/servers/io.github.acme%2Fweather/versions",
		"/v0.1/servers/io.github.acme%2Fweather/versions/latest", "/openapi.yaml",
	} {
		t.Run(path, func(t *testing.T) {
			resp, _ := fetch(t, base+path)
			tag := resp.Header.Get("ETag")
			if len(tag) < 4 || tag[:3] != `W/"` {
				t.Fatalf("ETag %q is not a weak tag", tag)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
				t.Fatalf("Cache-Control %q", cc)
			}
			for _, inm := range []string{tag, `"other", ` + tag, tag[2:], "*"} {
				resp, body := fetch(t, base+path, "If-None-Match", inm)
				if resp.StatusCode != http.StatusNotModified || len(body) != 0 || resp.Header.Get("ETag") != tag {
					t.Fatalf("If-None-Match %s: %s, %d bytes, ETag %q", inm, resp.Status, len(body), resp.Header.Get("ETag"))
				}
			}
			if resp, _ := fetch(t, base+path, "If-None-Match", `W/"stale"`); resp.StatusCode != http.StatusOK {
				t.Fatalf("a stale tag: %s", resp.Status)
			}
		})
	}
}

// TestETagIsTheSameOnEveryReplica builds the same content in two orders,
// as two replicas reading their stores could, and expects equal bodies
// and tags; a changed entry changes the tag.
func TestETagIsTheSameOnEveryReplica(t *testing.T) {
	c := routeContent()
	reversed := Content{Servers: slices.Clone(c.Servers)}
	slices.Reverse(reversed.Servers)
	_, a := serveRegistry(t, c)
	h, b := serveRegistry(t, reversed)
	const path = "/v0.1/servers?limit=3"
	ra, ba := fetch(t, a+path)
	rb, bb := fetch(t, b+path)
	if ra.Header.Get("ETag") != rb.Header.Get("ETag") || !bytes.Equal(ba, bb) {
		t.Fatalf("replicas differ: %s %s", ra.Header.Get("ETag"), rb.Header.Get("ETag"))
	}

	changed := routeContent()
	changed.Servers[0] = at(changed.Servers[0], t0, t0.Add(time.Minute))
	if err := h.Swap("default", mustBuild(t, changed)); err != nil {
		t.Fatal(err)
	}
	rc, _ := fetch(t, b+path, "If-None-Match", ra.Header.Get("ETag"))
	if rc.StatusCode != http.StatusOK || rc.Header.Get("ETag") == ra.Header.Get("ETag") {
		t.Fatalf("after a change: %s, ETag %s (was %s)", rc.Status, rc.Header.Get("ETag"), ra.Header.Get("ETag"))
	}
}

func TestGzipWhenAsked(t *testing.T) {
	c := Content{}
	for _, n := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		c.Servers = append(c.Servers, server("io.test/"+n, "1.0.0", true))
	}
	_, base := serveRegistry(t, c)
	_, plain := fetch(t, base+"/v0.1/servers")
	req, _ := http.NewRequest(http.MethodGet, base+"/v0.1/servers", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Vary") != "Accept-Encoding" {
		t.Fatalf("Content-Encoding %q, Vary %q", resp.Header.Get("Content-Encoding"), resp.Header.Get("Vary"))
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	unzipped, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(unzipped, plain) {
		t.Fatal("the gzipped body is not the plain body")
	}
	if resp, _ := fetch(t, base+"/v0.1/servers", "Accept-Encoding", "gzip;q=0"); resp.Header.Get("Content-Encoding") != "" {
		t.Fatal("gzip;q=0 was answered gzipped")
	}
}

func TestHEADAnswersLikeGET(t *testing.T) {
	_, base := serveRegistry(t, routeContent())
	for _, path := range []string{"/v0.1/servers", "/v0.1/servers/io.github.x%2Fy/versions/latest", "/openapi.yaml", "/v0.1/x/dev.toolhive/skills"} {
		get, body := fetch(t, base+path, "Accept-Encoding", "identity")
		head, none := fetch(t, base+path, "Method", http.MethodHead, "Accept-Encoding", "identity")
		if head.StatusCode != get.StatusCode || head.Header.Get("ETag") != get.Header.Get("ETag") ||
			head.Header.Get("Content-Length") != get.Header.Get("Content-Length") || len(none) != 0 || len(body) == 0 {
			t.Errorf("HEAD %s: %s ETag %s length %s; GET: %s ETag %s length %s", path,
				head.Status, head.Header.Get("ETag"), head.Header.Get("Content-Length"),
				get.Status, get.Header.Get("ETag"), get.Header.Get("Content-Length"))
		}
	}
}

// TestCursorResumesOnANewView pages through a listing while the view is
// swapped between pages: entries that stayed are neither skipped nor
// repeated, because a cursor names an entry, not an offset.
func TestCursorResumesOnANewView(t *testing.T) {
	c := Content{}
	for _, n := range []string{"a", "b", "c", "d"} {
		c.Servers = append(c.Servers, server("io.test/"+n, "1.0.0", true))
	}
	h, base := serveRegistry(t, c)
	first := getList(t, base+"/v0.1/servers?limit=2")
	c.Servers = append(c.Servers[1:], server("io.test/aa", "1.0.0", true)) // a removed, aa added before the cursor
	if err := h.Swap("default", mustBuild(t, c)); err != nil {
		t.Fatal(err)
	}
	second := getList(t, base+"/v0.1/servers?limit=2&cursor="+first.Metadata.NextCursor)
	if got, want := second.keys(), []string{"io.test/c 1.0.0", "io.test/d 1.0.0"}; !slices.Equal(got, want) || second.Metadata.NextCursor != "" {
		t.Fatalf("second page %q (next %q), want %q and no cursor", got, second.Metadata.NextCursor, want)
	}
}
