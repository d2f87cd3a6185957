package views

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/regsync/regsync/internal/api"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/testsupport"
)

// randomSnapshot is a snapshot of a few of a small set of servers, skills
// and plugins, each with a few of a small set of versions and of
// descriptions, so that sources share names, and syncs add, change, keep
// and remove versions and names.
func randomSnapshot(r *rand.Rand) []byte {
	versions := []string{"1.0.0", "1.1.0", "2.0.0", "10.0.0"}
	descriptions := []string{"alpha tool", "beta search tool", "gamma", "delta search"}
	var servers, skills, plugins []string
	for n := range 6 {
		for _, v := range versions {
			if r.IntN(3) == 0 {
				servers = append(servers, server(fmt.Sprintf("io.x/n%d", n), v, descriptions[r.IntN(len(descriptions))]))
			}
		}
	}
	for n := range 3 {
		for _, v := range versions[:2] {
			d := descriptions[r.IntN(len(descriptions))]
			if r.IntN(3) == 0 {
				skills = append(skills, fmt.Sprintf(`{"namespace":"io.k","name":"k%d","version":%q,"description":%q}`, n, v, d))
			}
			if r.IntN(3) == 0 {
				plugins = append(plugins, fmt.Sprintf(`{"namespace":"io.p","name":"p%d","version":%q,"description":%q}`, n, v, d))
			}
		}
	}
	return []byte(`{"version":"1.0.0","meta":{"last_updated":"2025-01-01T00:00:00Z"},"data":{"servers":[` +
		strings.Join(servers, ",") + `],"skills":[` + strings.Join(skills, ",") + `],"plugins":[` + strings.Join(plugins, ",") + `]}}`)
}

// servedPaths are the requests whose answers two views of equal content
// must answer alike, under /registry/<name>.
func servedPaths() []string {
	paths := []string{"/v0.1/servers", "/v0.1/servers?include_deleted=true", "/v0.1/servers?version=latest",
		"/v0.1/servers?version=latest&include_deleted=true", "/v0.1/servers?limit=2", "/v0.1/servers?search=search",
		"/v0.1/servers?search=tool&include_deleted=true", "/v0.1/servers?search=amm", "/v0.1/servers?search=io.x/n1",
		"/v0.1/x/dev.toolhive/skills", "/v0.1/x/dev.toolhive/plugins", "/v0.1/x/dev.toolhive/skills?search=search"}
	for n := range 6 {
		paths = append(paths, fmt.Sprintf("/v0.1/servers/io.x%%2Fn%d/versions", n), fmt.Sprintf("/v0.1/servers/io.x%%2Fn%d/versions/latest", n))
	}
	for n := range 3 {
		paths = append(paths, fmt.Sprintf("/v0.1/x/dev.toolhive/skills/io.k/k%d/versions", n), fmt.Sprintf("/v0.1/x/dev.toolhive/plugins/io.p/p%d", n))
	}
	return paths
}

// serve answers a request of a registry from a handler serving v only.
func serve(t *testing.T, registry string, v *api.View, path string) (int, string, string) {
	t.Helper()
	h := api.NewHandler([]string{registry}, testsupport.Logger(t))
	if err := h.Swap(registry, v); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/registry/"+registry+path, nil))
	return rec.Code, rec.Body.String(), rec.Header().Get("ETag")
}

// sameServed reports what differs between two views of a registry: their
// digests and every answer of servedPaths, with its ETag.
func sameServed(t *testing.T, registry string, got, want *api.View) []string {
	t.Helper()
	var diffs []string
	if got.Digest() != want.Digest() {
		diffs = append(diffs, fmt.Sprintf("digest %s, built anew %s", got.Digest(), want.Digest()))
	}
	for _, path := range servedPaths() {
		gc, gb, ge := serve(t, registry, got, path)
		wc, wb, we := serve(t, registry, want, path)
		if gc != wc || gb != wb || ge != we {
			diffs = append(diffs, fmt.Sprintf("%s: %d %s %s\nbuilt anew: %d %s %s", path, gc, ge, gb, wc, we, wb))
		}
	}
	return diffs
}

// The API view a follower keeps by patching the names each batch of
// commits changed serves exactly what a view built anew from the same
// records serves, and what a follower started afterwards serves: the same
// bytes, ETags, order and search results, after random syncs of sources
// shared by registries in different orders, which add, change, keep and
// remove versions, change the source that wins a name and leave
// tombstones.
func TestAPatchedViewServesWhatAViewBuiltAnewServes(t *testing.T) {
	regs := []config.Registry{
		{Name: "abc", Sources: []string{"a", "b", "c"}},
		{Name: "cb", Sources: []string{"c", "b"}},
		{Name: "a", Sources: []string{"a"}},
	}
	f := start(t)
	f.registries = regs
	names := make([]string, len(regs))
	for i, reg := range regs {
		names[i] = reg.Name
	}
	var mu sync.Mutex
	applied := map[string]int{}
	checked := 0
	fl := New(f.kv, regs, api.NewHandler(names, testsupport.Logger(t)), testsupport.Logger(t))
	// Each view made current is compared, in Run, with one built from
	// every record the follower holds at that moment.
	fl.OnChange(func(registry string, r *Registry) {
		reg := fl.registryConfig(registry)
		built, err := api.Build(fl.content(reg, r.Merged, fl.names(reg)))
		if err != nil {
			t.Errorf("%s: build anew: %v", registry, err)
			return
		}
		for _, d := range sameServed(t, registry, r.API, built) {
			t.Errorf("%s: %s", registry, d)
		}
		mu.Lock()
		checked++
		mu.Unlock()
	})
	fl.applied = func(source string) {
		mu.Lock()
		applied[source]++
		mu.Unlock()
	}
	// Commits are counted as applied from the loaded views on: one the
	// start-up read already holds is not applied again.
	run(t, fl)

	r := rand.New(rand.NewPCG(20261208, 3))
	writes := map[string]int{}
	for round := range 25 {
		// A few sources written at once: their commits are applied
		// alone or in batches, as the watch hands them over.
		for _, src := range []string{"a", "b", "c"} {
			if r.IntN(2) == 0 || round == 0 {
				f.write(src, randomSnapshot(r))
				writes[src]++
			}
		}
		testsupport.Eventually(t, "every commit applied", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return applied["a"] == writes["a"] && applied["b"] == writes["b"] && applied["c"] == writes["c"]
		})
		if t.Failed() {
			t.Fatalf("round %d", round)
		}
	}
	mu.Lock()
	if checked <= len(regs) {
		t.Errorf("%d views checked: none after the first", checked)
	}
	mu.Unlock()

	late := f.follow()
	for _, reg := range regs {
		for _, d := range sameServed(t, reg.Name, fl.Registry(reg.Name).API, late.Registry(reg.Name).API) {
			t.Errorf("%s, against a follower started afterwards: %s", reg.Name, d)
		}
	}
	if _, body, _ := late.get(t, "/registry/abc/v0.1/servers?include_deleted=true"); !strings.Contains(body, `"status":"deleted"`) {
		t.Error("no tombstone served: the syncs did not remove a version")
	}
}
