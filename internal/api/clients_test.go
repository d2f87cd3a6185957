package api

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/registry"
	"github.com/regsync/regsync/internal/sources"
	"github.com/regsync/regsync/internal/testsupport"
)

// manyServers is a registry of n names with two versions each, the
// second the latest.
func manyServers(n int) Content {
	c := Content{}
	for i := range n {
		name := fmt.Sprintf("io.github.load/server-%05d", i)
		c.Servers = append(c.Servers, server(name, "1.0.0", false), server(name, "1.1.0", true))
	}
	return c
}

// TestToolHiveClient replays what ToolHive's thv sends, against the base
// URL /registry/{registry}: the probe of set-registry, the walk of one
// entry per request, the listing of 100 latest entries per page, a
// server's latest version and a search.
func TestToolHiveClient(t *testing.T) {
	const n = 250
	_, base := serveRegistry(t, manyServers(n))

	resp, body := fetch(t, base+"/v0.1/servers?limit=1&version=latest")
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(body, &probe); err != nil || resp.Header.Get("Content-Type") != "application/json" || !strings.HasPrefix(string(probe["metadata"]), "{") {
		t.Fatalf("set-registry probe: Content-Type %q, body %s", resp.Header.Get("Content-Type"), body)
	}

	walk := func(limit int) []string {
		var names []string
		q := url.Values{"limit": {fmt.Sprint(limit)}, "version": {"latest"}}
		for pages := 0; ; pages++ {
			if pages > n {
				t.Fatalf("limit=%d: more than %d pages", limit, n)
			}
			l := getList(t, base+"/v0.1/servers?"+q.Encode())
			names = append(names, l.keys()...)
			if l.Metadata.NextCursor == "" {
				return names
			}
			q.Set("cursor", l.Metadata.NextCursor)
		}
	}
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("io.github.load/server-%05d 1.1.0", i))
	}
	for _, limit := range []int{1, 100} {
		if got := walk(limit); !slices.Equal(got, want) {
			t.Fatalf("walk with limit=%d: %d entries, want %d", limit, len(got), len(want))
		}
	}

	resp, body = fetch(t, base+"/v0.1/servers/io.github.load%2Fserver-00042/versions/latest")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"version":"1.1.0"`) {
		t.Fatalf("latest: %s %s", resp.Status, body)
	}
	wantError(t, base+"/v0.1/servers/io.github.load%2Fmissing/versions/latest", http.StatusNotFound, "not found")
	if got := getList(t, base+"/v0.1/servers?search=SERVER-0004&version=latest").keys(); len(got) != 10 {
		t.Fatalf("search: %q", got)
	}
}

// TestVSCodeProbe replays VS Code: the probe of {url}/v0.1/servers?limit=1,
// then a server's latest version and an exact one.
func TestVSCodeProbe(t *testing.T) {
	_, base := serveRegistry(t, manyServers(3))
	l := getList(t, base+"/v0.1/servers?limit=1")
	if l.Metadata.Count != 1 || l.Metadata.NextCursor == "" {
		t.Fatalf("probe: count %d, next %q", l.Metadata.Count, l.Metadata.NextCursor)
	}
	for _, v := range []string{"latest", "1.0.0"} {
		if resp, body := fetch(t, base+"/v0.1/servers/io.github.load%2Fserver-00001/versions/"+v); resp.StatusCode != http.StatusOK {
			t.Fatalf("version %s: %s %s", v, resp.Status, body)
		}
	}
}

// TestAPISourceSyncsFromHandler points regsync's own api source at a
// registry served by the handler: it accepts the OpenAPI document (also
// asked as JSON) and ends with every live version.
func TestAPISourceSyncsFromHandler(t *testing.T) {
	c := manyServers(130) // more than one page of 100
	c.Servers = append(c.Servers, deleted(server("io.github.load/removed", "1.0.0", true), t0.Add(time.Hour)))
	_, base := serveRegistry(t, c)

	resp, _ := fetch(t, base+"/openapi.yaml", "Accept", "application/json")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("openapi.yaml asked as JSON: %s", resp.Status)
	}

	f := &sources.Fetcher{Logger: testsupport.Logger(t)}
	got, err := f.Fetch(context.Background(), config.Source{Name: "peer", API: &config.API{Endpoint: base}})
	if err != nil {
		t.Fatalf("api source: %v", err)
	}
	reg, err := registry.Parse(got.Raw)
	if err != nil {
		t.Fatalf("parse what the api source fetched: %v", err)
	}
	var have []string
	for _, s := range reg.Data.Servers {
		have = append(have, s.Name+" "+s.Version)
	}
	var want []string
	for _, s := range c.Servers {
		if !s.Deleted {
			want = append(want, s.Name+" "+s.Version)
		}
	}
	slices.Sort(want)
	if !slices.Equal(have, want) {
		t.Fatalf("api source fetched %d entries, want %d", len(have), len(want))
	}
}

// TestIncrementalClientEqualsFullListing follows the official registry's
// incremental recipe: a full listing, then updated_since from the newest
// time seen, applying removed entries as deletions. After the registry
// changed (an update, an addition, a removal) it holds what a full listing
// holds.
func TestIncrementalClientEqualsFullListing(t *testing.T) {
	before := manyServers(40)
	h, base := serveRegistry(t, before)

	held := map[string]string{} // "name version" → server bytes
	var newest time.Time
	apply := func(q url.Values) {
		for {
			l := getList(t, base+"/v0.1/servers?"+q.Encode())
			for _, s := range l.Servers {
				var id identity
				if err := json.Unmarshal(s.Server, &id); err != nil {
					t.Fatal(err)
				}
				k := id.Name + " " + id.Version
				if s.Meta.Official.Status == "deleted" {
					delete(held, k)
				} else {
					held[k] = string(s.Server)
				}
				if s.Meta.Official.UpdatedAt.After(newest) {
					newest = s.Meta.Official.UpdatedAt
				}
			}
			if l.Metadata.NextCursor == "" {
				return
			}
			q.Set("cursor", l.Metadata.NextCursor)
		}
	}
	apply(url.Values{"limit": {"7"}})

	t1 := t0.Add(time.Hour)
	after := manyServers(40)
	after.Servers[3] = at(server(after.Servers[3].Name, after.Servers[3].Version, after.Servers[3].IsLatest, `"title":"Changed"`), t0, t1)
	after.Servers[10] = deleted(after.Servers[10], t1)
	after.Servers = append(after.Servers, at(server("io.github.load/new", "0.1.0", true), t1, t1))
	if err := h.Swap("default", mustBuild(t, after)); err != nil {
		t.Fatal(err)
	}
	apply(url.Values{"limit": {"7"}, "updated_since": {newest.Format(time.RFC3339Nano)}})

	full := map[string]string{}
	for q := (url.Values{"limit": {"1000"}}); ; {
		l := getList(t, base+"/v0.1/servers?"+q.Encode())
		for _, s := range l.Servers {
			var id identity
			_ = json.Unmarshal(s.Server, &id)
			full[id.Name+" "+id.Version] = string(s.Server)
		}
		if l.Metadata.NextCursor == "" {
			break
		}
		q.Set("cursor", l.Metadata.NextCursor)
	}
	if !maps.Equal(held, full) {
		t.Fatalf("incremental client holds %d entries, the full listing %d", len(held), len(full))
	}
	if _, ok := held[after.Servers[10].Name+" "+after.Servers[10].Version]; ok {
		t.Fatal("the removed entry is still held")
	}
}
