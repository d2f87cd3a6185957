package views

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/internal/api"
	"github.com/regsync/regsync/internal/bus/bustest"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/registry"
	"github.com/regsync/regsync/internal/registry/merge"
	"github.com/regsync/regsync/internal/syncer/entries"
	"github.com/regsync/regsync/internal/testsupport"
)

func server(name, version, description string) string {
	return fmt.Sprintf(`{"name":%q,"version":%q,"description":%q}`, name, version, description)
}

func snapshot(servers ...string) []byte {
	return []byte(`{"version":"1.0.0","meta":{"last_updated":"2025-01-01T00:00:00Z"},"data":{"servers":[` +
		strings.Join(servers, ",") + `]}}`)
}

// registries: "both" prefers a over b; "a" and "b" hold one source each.
var registries = []config.Registry{
	{Name: "both", Sources: []string{"a", "b"}},
	{Name: "a", Sources: []string{"a"}},
	{Name: "b", Sources: []string{"b"}},
}

type fixture struct {
	t     *testing.T
	js    jetstream.JetStream
	kv    jetstream.KeyValue
	store *entries.Store
	// keep, when set, is the store the follower keeps current.
	keep Keeper
	// registries, when set, are the registries followed instead of the
	// package's.
	registries []config.Registry
}

func start(t *testing.T) *fixture {
	srv := bustest.Start(t, 0)
	return &fixture{t: t, js: srv.JS, kv: srv.Handles.Entries, store: entries.New(srv.JS, srv.Handles.Entries, time.Hour)}
}

func (f *fixture) write(source string, snap []byte) entries.Written {
	f.t.Helper()
	lists, err := registry.SnapshotLists(snap)
	if err != nil {
		f.t.Fatal(err)
	}
	b, err := f.store.Prepare(context.Background(), source, lists)
	if err != nil {
		f.t.Fatal(err)
	}
	w, err := f.store.Write(context.Background(), b, entries.Sync{Revision: "r"})
	if err != nil {
		f.t.Fatal(err)
	}
	return w
}

// follower is a running Follower whose applied changes are counted.
type follower struct {
	*Follower
	handler *api.Handler
	mu      sync.Mutex
	applied map[string]int
}

func (f *fixture) follow() *follower {
	f.t.Helper()
	regs := registries
	if f.registries != nil {
		regs = f.registries
	}
	names := make([]string, len(regs))
	for i, r := range regs {
		names[i] = r.Name
	}
	h := api.NewHandler(names, testsupport.Logger(f.t))
	fl := &follower{Follower: New(f.kv, regs, h, testsupport.Logger(f.t)), handler: h, applied: map[string]int{}}
	if f.keep != nil {
		fl.Keep(f.keep)
	}
	fl.Follower.applied = func(source string) {
		fl.mu.Lock()
		fl.applied[source]++
		fl.mu.Unlock()
	}
	run(f.t, fl.Follower)
	return fl
}

// run runs fl until the test ends, and returns once its views are loaded.
func run(t testing.TB, fl *Follower) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fl.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	testsupport.Eventually(t, "views loaded", func() bool {
		select {
		case <-fl.Loaded():
			return true
		default:
			return false
		}
	})
}

func (fl *follower) appliedOf(source string) int {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return fl.applied[source]
}

// get answers a request from the follower's handler.
func (fl *follower) get(t *testing.T, path string) (int, string, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	fl.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String(), rec.Header().Get("ETag")
}

// names lists the server names and versions a listing answers.
func names(t *testing.T, body string) []string {
	t.Helper()
	var list struct {
		Servers []struct {
			Server struct{ Name, Version, Description string }
			Meta   map[string]struct {
				Status string
			} `json:"_meta"`
		}
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	var out []string
	for _, s := range list.Servers {
		out = append(out, s.Server.Name+"@"+s.Server.Version+":"+s.Server.Description+":"+s.Meta["io.modelcontextprotocol.registry/official"].Status)
	}
	return out
}

func TestTheAPIAnswers503UntilTheViewsAreLoaded(t *testing.T) {
	f := start(t)
	h := api.NewHandler([]string{"a"}, testsupport.Logger(t))
	New(f.kv, registries[1:2], h, testsupport.Logger(t)) // not running
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/registry/a/v0.1/servers", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("before loading: %d", rec.Code)
	}
}

func TestStartUpLoadsEveryCommittedRecordAndMerges(t *testing.T) {
	f := start(t)
	f.write("a", snapshot(server("io.x/one", "1.0.0", "from a")))
	f.write("b", snapshot(server("io.x/one", "2.0.0", "from b"), server("io.x/two", "1.0.0", "from b")))
	fl := f.follow()

	code, body, _ := fl.get(t, "/registry/both/v0.1/servers")
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
	// a wins io.x/one, even though b's version sorts after a's.
	want := []string{"io.x/one@1.0.0:from a:active", "io.x/two@1.0.0:from b:active"}
	if got := names(t, body); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("both serves %v, want %v", got, want)
	}
	if got := fl.Registry("both").Merged.Len(); got != 2 {
		t.Errorf("merged view holds %d names", got)
	}
}

// The records of a sync are applied when its commit arrives, all at once:
// a record written without its commit is not served.
func TestAFollowerSeesACommitsEntriesAllAtOnce(t *testing.T) {
	f := start(t)
	f.write("a", snapshot(server("io.x/one", "1.0.0", "v1")))
	f.write("b", snapshot(server("io.x/other", "1.0.0", "b1")))
	fl := f.follow()

	// Half a sync of a: one record, no commit.
	now := time.Now() // a new entry: first stored as it changes
	half := entries.Record{Kind: entries.KindServer, Name: "io.x/new", Version: "1.0.0", Digest: strings.Repeat("0", 64),
		PublishedAt: now, UpdatedAt: now, Generation: 2, Data: json.RawMessage(server("io.x/new", "1.0.0", "half"))}
	raw, _ := json.Marshal(half)
	if _, err := f.kv.Put(context.Background(), entries.Key("a", entries.KindServer, "io.x/new", "1.0.0"), raw); err != nil {
		t.Fatal(err)
	}
	// A later commit of b is applied: the follower has read past a's record.
	f.write("b", snapshot(server("io.x/other", "1.0.0", "b2")))
	testsupport.Eventually(t, "b's commit applied", func() bool { return fl.appliedOf("b") == 1 })
	_, body, _ := fl.get(t, "/registry/both/v0.1/servers")
	if got := names(t, body); fmt.Sprint(got) != "[io.x/one@1.0.0:v1:active io.x/other@1.0.0:b2:active]" {
		t.Errorf("half a sync is served: %v", got)
	}

	// The next sync of a edits one entry and commits the uncommitted record's removal with it.
	f.write("a", snapshot(server("io.x/one", "1.0.0", "v2"), server("io.x/three", "1.0.0", "v2")))
	testsupport.Eventually(t, "a's commit applied", func() bool { return fl.appliedOf("a") == 1 })
	_, body, _ = fl.get(t, "/registry/both/v0.1/servers?include_deleted=true")
	want := "[io.x/new@1.0.0:half:deleted io.x/one@1.0.0:v2:active io.x/other@1.0.0:b2:active io.x/three@1.0.0:v2:active]"
	if got := names(t, body); fmt.Sprint(got) != want {
		t.Errorf("after the commit: %v, want %v", got, want)
	}
}

func TestARemovedVersionIsServedAsDeleted(t *testing.T) {
	f := start(t)
	f.write("a", snapshot(server("io.x/one", "1.0.0", "v1"), server("io.x/one", "2.0.0", "v2")))
	fl := f.follow()
	f.write("a", snapshot(server("io.x/one", "2.0.0", "v2")))
	testsupport.Eventually(t, "removal applied", func() bool { return fl.appliedOf("a") == 1 })
	_, body, _ := fl.get(t, "/registry/a/v0.1/servers")
	if got := fmt.Sprint(names(t, body)); got != "[io.x/one@2.0.0:v2:active]" {
		t.Errorf("listing: %v", got)
	}
	_, body, _ = fl.get(t, "/registry/a/v0.1/servers?include_deleted=true")
	if got := fmt.Sprint(names(t, body)); got != "[io.x/one@1.0.0:v1:deleted io.x/one@2.0.0:v2:active]" {
		t.Errorf("with deletions: %v", got)
	}
}

// Views are a function of the stored data: a follower that watched every
// change and one started afterwards have the same merge digests and serve
// the same ETags, and both equal a merge built from scratch.
func TestTwoFollowersOfTheSameStoredDataAgree(t *testing.T) {
	f := start(t)
	f.write("a", snapshot(server("io.x/one", "1.0.0", "a1"), server("io.x/two", "1.0.0", "a")))
	f.write("b", snapshot(server("io.x/one", "0.9.0", "b"), server("io.x/three", "1.0.0", "b")))
	early := f.follow()
	f.write("a", snapshot(server("io.x/one", "1.0.0", "a2"), server("io.x/one", "1.1.0", "a2")))
	f.write("b", snapshot(server("io.x/three", "1.0.0", "b2"), server("io.x/two", "3.0.0", "b")))
	testsupport.Eventually(t, "both changes applied", func() bool { return early.appliedOf("a") == 1 && early.appliedOf("b") == 1 })
	late := f.follow()

	for _, reg := range registries {
		e, l := early.Registry(reg.Name), late.Registry(reg.Name)
		if e.Merged.Digest() != l.Merged.Digest() || e.API.Digest() != l.API.Digest() {
			t.Errorf("%s: merge %s / %s, API %s / %s", reg.Name, e.Merged.Digest(), l.Merged.Digest(), e.API.Digest(), l.API.Digest())
		}
		var srcs []merge.Source
		for _, name := range reg.Sources {
			srcs = append(srcs, late.sources[name].merged)
		}
		if want := merge.Merge(srcs).Digest(); e.Merged.Digest() != want {
			t.Errorf("%s: incremental merge %s, from scratch %s", reg.Name, e.Merged.Digest(), want)
		}
		for _, path := range []string{"/v0.1/servers", "/v0.1/servers?include_deleted=true", "/v0.1/servers/io.x%2Fone/versions"} {
			_, eb, et := early.get(t, "/registry/"+reg.Name+path)
			_, lb, lt := late.get(t, "/registry/"+reg.Name+path)
			if et != lt || eb != lb {
				t.Errorf("%s%s: ETags %s / %s\n%s\n%s", reg.Name, path, et, lt, eb, lb)
			}
		}
	}
	_, body, _ := late.get(t, "/registry/both/v0.1/servers?include_deleted=true")
	// Versions no source of the registry has any more are tombstones,
	// whichever source removed them.
	want := "[io.x/one@0.9.0:b:deleted io.x/one@1.0.0:a2:active io.x/one@1.1.0:a2:active io.x/three@1.0.0:b2:active io.x/two@1.0.0:a:deleted io.x/two@3.0.0:b:active]"
	if got := fmt.Sprint(names(t, body)); got != want {
		t.Errorf("both: %v\nwant  %v", got, want)
	}
}

// A replica started while a sync's records wait for their commit serves
// the committed data only, and the records once they are committed.
func TestStartUpHoldsBackRecordsNotCommitted(t *testing.T) {
	f := start(t)
	f.write("a", snapshot(server("io.x/one", "1.0.0", "v1")))
	now := time.Now() // a new entry: first stored as it changes
	half := entries.Record{Kind: entries.KindServer, Name: "io.x/new", Version: "1.0.0", Digest: strings.Repeat("0", 64),
		PublishedAt: now, UpdatedAt: now, Generation: 2, Data: json.RawMessage(server("io.x/new", "1.0.0", "half"))}
	raw, _ := json.Marshal(half)
	if _, err := f.kv.Put(context.Background(), entries.Key("a", entries.KindServer, "io.x/new", "1.0.0"), raw); err != nil {
		t.Fatal(err)
	}
	fl := f.follow()
	_, body, _ := fl.get(t, "/registry/a/v0.1/servers?include_deleted=true")
	if got := fmt.Sprint(names(t, body)); got != "[io.x/one@1.0.0:v1:active]" {
		t.Errorf("at start-up: %v", got)
	}
	// The commit of generation 2, as the sync that wrote the record would have written it.
	c, _ := json.Marshal(entries.Commit{Generation: 2, CommittedAt: time.Now(), Changed: 1})
	if _, err := f.kv.Put(context.Background(), entries.CommitKey("a"), c); err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, "the commit applied", func() bool { return fl.appliedOf("a") == 1 })
	_, body, _ = fl.get(t, "/registry/a/v0.1/servers")
	if got := fmt.Sprint(names(t, body)); got != "[io.x/new@1.0.0:half:active io.x/one@1.0.0:v1:active]" {
		t.Errorf("after the commit: %v", got)
	}
}

// A follower that starts after a sync replaced committed records with
// records it did not commit (it was killed before its commit) cannot know
// what those keys held: the views of the source's registries say the
// source is partial until its next commit covers them, and whole after.
func TestStartUpMarksASourceWhoseRecordsAreNotCommittedPartial(t *testing.T) {
	f := start(t)
	f.write("a", snapshot(server("io.x/one", "1.0.0", "v1"), server("io.x/two", "1.0.0", "v1")))
	f.write("b", snapshot(server("io.x/three", "1.0.0", "v1")))
	replaced := entries.Record{Kind: entries.KindServer, Name: "io.x/one", Version: "1.0.0", Digest: strings.Repeat("0", 64),
		PublishedAt: time.Now().Add(-time.Hour), UpdatedAt: time.Now(), Generation: 2, Data: json.RawMessage(server("io.x/one", "1.0.0", "v2"))}
	raw, _ := json.Marshal(replaced)
	if _, err := f.kv.Put(context.Background(), entries.Key("a", entries.KindServer, "io.x/one", "1.0.0"), raw); err != nil {
		t.Fatal(err)
	}
	fl := f.follow()
	partial := func(registry string) map[string]bool {
		out := map[string]bool{}
		for _, s := range fl.Registry(registry).Sources {
			out[s.Name] = s.Partial
		}
		return out
	}
	if got := partial("both"); !got["a"] || got["b"] {
		t.Errorf("at start-up, partial sources of both: %v, want a alone", got)
	}
	// The view lacks what the record replaced: a registry of a partial
	// source is not served (503, as while loading) until the commit.
	for _, reg := range []string{"a", "both"} {
		if code, body, _ := fl.get(t, "/registry/"+reg+"/v0.1/servers"); code != http.StatusServiceUnavailable {
			t.Errorf("registry %s of a partial source at start-up: %d %s, want 503", reg, code, body)
		}
	}
	if code, body, _ := fl.get(t, "/registry/b/v0.1/servers"); code != http.StatusOK {
		t.Errorf("registry b, no partial source: %d %s", code, body)
	}
	c, _ := json.Marshal(entries.Commit{Generation: 2, CommittedAt: time.Now(), Changed: 1})
	if _, err := f.kv.Put(context.Background(), entries.CommitKey("a"), c); err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, "the commit applied", func() bool { return fl.appliedOf("a") == 1 })
	if got := partial("both"); got["a"] || got["b"] {
		t.Errorf("after the commit, partial sources of both: %v, want none", got)
	}
	if got := partial("a"); got["a"] {
		t.Errorf("after the commit, registry a's source is partial")
	}
	code, body, _ := fl.get(t, "/registry/both/v0.1/servers")
	if code != http.StatusOK {
		t.Fatalf("registry both after the commit: %d %s", code, body)
	}
	if got := fmt.Sprint(names(t, body)); got != "[io.x/one@1.0.0:v2:active io.x/three@1.0.0:v1:active io.x/two@1.0.0:v1:active]" {
		t.Errorf("registry both after the commit serves %s", got)
	}
}

// A tombstone expires after its TTL: every follower drops it.
func TestAnExpiredTombstoneIsDropped(t *testing.T) {
	f := start(t)
	f.store = entries.New(f.js, f.kv, time.Second)
	f.write("a", snapshot(server("io.x/one", "1.0.0", "v1"), server("io.x/one", "2.0.0", "v2")))
	fl := f.follow()
	f.write("a", snapshot(server("io.x/one", "2.0.0", "v2")))
	testsupport.Eventually(t, "the tombstone served, then dropped", func() bool {
		_, body, _ := fl.get(t, "/registry/a/v0.1/servers?include_deleted=true")
		return fl.appliedOf("a") == 2 && fmt.Sprint(names(t, body)) == "[io.x/one@2.0.0:v2:active]"
	})
	if fl.Registry("a").API.Digest() != f.follow().Registry("a").API.Digest() {
		t.Error("a follower started after the expiry serves other content")
	}
}

// A reloaded configuration changes the views at once: a registry whose
// order changed is merged anew, one added is built, one removed dropped.
func TestSetRegistriesChangesTheViewsAtOnce(t *testing.T) {
	f := start(t)
	f.write("a", snapshot(server("io.x/one", "1.0.0", "from a")))
	f.write("b", snapshot(server("io.x/one", "2.0.0", "from b")))
	fl := f.follow()
	unchanged := fl.Registry("b")

	next := []config.Registry{
		{Name: "both", Sources: []string{"b", "a"}},
		{Name: "b", Sources: []string{"b"}},
		{Name: "extra", Sources: []string{"a"}},
	}
	if err := fl.SetRegistries(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	_, body, _ := fl.get(t, "/registry/both/v0.1/servers")
	if got := fmt.Sprint(names(t, body)); got != "[io.x/one@2.0.0:from b:active]" {
		t.Errorf("reordered: %v", got)
	}
	if fl.Registry("b") != unchanged {
		t.Error("an unchanged registry was merged again")
	}
	if r := fl.Registry("extra"); r == nil || r.Merged.Len() != 1 {
		t.Errorf("added registry: %+v", r)
	}
	if fl.Registry("a") != nil {
		t.Error("the removed registry is still kept")
	}
	// Later commits follow the new configuration.
	f.write("a", snapshot(server("io.x/one", "1.0.0", "from a, edited")))
	testsupport.Eventually(t, "a's commit applied", func() bool { return fl.appliedOf("a") == 1 })
	if it := fl.Registry("extra").Merged.Get(merge.Key{Kind: merge.Server, Name: "io.x/one"}); it.Source != "a" ||
		!strings.Contains(string(it.Latest().Data), "edited") {
		t.Errorf("extra holds %s from %s", it.Latest().Data, it.Source)
	}
	_, body, _ = fl.get(t, "/registry/both/v0.1/servers")
	if got := fmt.Sprint(names(t, body)); got != "[io.x/one@2.0.0:from b:active]" {
		t.Errorf("both after a's edit: %v", got)
	}
}

// official decodes a listing into "name@version" → its official _meta.
func official(t *testing.T, body string) map[string]struct {
	Status    string
	UpdatedAt time.Time
} {
	t.Helper()
	var list struct {
		Servers []struct {
			Server struct{ Name, Version string }
			Meta   map[string]struct {
				Status    string
				UpdatedAt time.Time
			} `json:"_meta"`
		}
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	out := map[string]struct {
		Status    string
		UpdatedAt time.Time
	}{}
	for _, s := range list.Servers {
		out[s.Server.Name+"@"+s.Server.Version] = s.Meta["io.modelcontextprotocol.registry/official"]
	}
	return out
}

// When the source that wins a name changes, the versions that start or
// stop being served are dated at that change, so that updated_since lists
// them: a version of b that wins once a drops the name is updated no
// earlier than a's removal, and one that a hides again is deleted no
// earlier than a's versions came back. A follower started afterwards
// serves the same.
func TestAWinnerChangeIsDatedForIncrementalClients(t *testing.T) {
	f := start(t)
	f.write("a", snapshot(server("io.x/one", "1.0.0", "a")))
	f.write("b", snapshot(server("io.x/one", "2.0.0", "b")))
	fl := f.follow()
	const path = "/registry/both/v0.1/servers?include_deleted=true"
	_, body, _ := fl.get(t, path)
	got := official(t, body)
	if got["io.x/one@2.0.0"].Status != "deleted" || got["io.x/one@2.0.0"].UpdatedAt.Before(got["io.x/one@1.0.0"].UpdatedAt) {
		t.Fatalf("b's version hidden by a's: %+v", got)
	}

	f.write("a", snapshot(server("io.x/two", "1.0.0", "a")))
	testsupport.Eventually(t, "a's removal applied", func() bool { return fl.appliedOf("a") == 1 })
	_, body, _ = fl.get(t, path)
	got = official(t, body)
	dropped := got["io.x/one@1.0.0"]
	if dropped.Status != "deleted" || got["io.x/one@2.0.0"].Status != "active" || got["io.x/one@2.0.0"].UpdatedAt.Before(dropped.UpdatedAt) {
		t.Fatalf("after a dropped io.x/one: %+v", got)
	}

	f.write("a", snapshot(server("io.x/two", "1.0.0", "a"), server("io.x/one", "1.0.0", "a")))
	testsupport.Eventually(t, "a's addition applied", func() bool { return fl.appliedOf("a") == 2 })
	_, body, etag := fl.get(t, path)
	got = official(t, body)
	back := got["io.x/one@1.0.0"]
	if back.Status != "active" || !back.UpdatedAt.After(dropped.UpdatedAt) ||
		got["io.x/one@2.0.0"].Status != "deleted" || got["io.x/one@2.0.0"].UpdatedAt.Before(back.UpdatedAt) {
		t.Fatalf("after a took io.x/one back: %+v", got)
	}
	if _, lateBody, lateETag := f.follow().get(t, path); lateETag != etag || lateBody != body {
		t.Errorf("a follower started afterwards serves\n%s\nnot\n%s", lateBody, body)
	}
}

// A view carries the recent commits of each of its sources, oldest first,
// so a registry can name every sync since the one it last stored: also a
// follower started after them knows them (the commit marker names them).
func TestAViewCarriesItsSourcesRecentCommits(t *testing.T) {
	f := start(t)
	fl := f.follow()
	var gens []uint64
	for i := range 3 {
		w := f.write("a", snapshot(server("io.x/one", fmt.Sprintf("1.0.%d", i), "a's one")))
		gens = append(gens, w.Generation)
	}
	testsupport.Eventually(t, "the last commit in the view", func() bool {
		v := fl.Registry("a")
		return v != nil && v.Sources[0].Commit.Generation == gens[2]
	})
	if got := commitGenerations(fl.Registry("a").Sources[0].Commits); !slices.Equal(got, gens) {
		t.Fatalf("commits of a in the view: generations %v, want %v", got, gens)
	}
	if got := commitGenerations(f.follow().Registry("a").Sources[0].Commits); !slices.Equal(got, gens) {
		t.Fatalf("commits of a after a restart: generations %v, want %v", got, gens)
	}
}

func commitGenerations(cs []entries.Commit) []uint64 {
	out := make([]uint64, len(cs))
	for i, c := range cs {
		out[i] = c.Generation
	}
	return out
}

// gatedSwapper serves views, and once closed is set holds every Swap of
// registry "a" until open is closed: an API view that takes long to build
// and serve.
type gatedSwapper struct {
	*api.Handler
	mu     sync.Mutex
	closed bool
	open   chan struct{}
}

func (g *gatedSwapper) Swap(registry string, v *api.View) error {
	g.mu.Lock()
	closed := g.closed
	g.mu.Unlock()
	if closed && registry == "a" {
		<-g.open
	}
	return g.Handler.Swap(registry, v)
}

// A registry's merge is told (OnMerged) and returned (Merged) before its
// API view is built and served, so the merger writes it meanwhile; the
// read API and Registry keep the previous whole view until then.
func TestAMergeIsToldBeforeItsAPIViewIsServed(t *testing.T) {
	f := start(t)
	f.write("a", snapshot(server("io.x/one", "1.0.0", "a1")))
	gate := &gatedSwapper{Handler: api.NewHandler([]string{"both", "a", "b"}, testsupport.Logger(t)), open: make(chan struct{})}
	fl := New(f.kv, registries, gate, testsupport.Logger(t))
	var mu sync.Mutex
	told := map[string][]*Registry{}
	fl.OnMerged(func(registry string, r *Registry) {
		mu.Lock()
		told[registry] = append(told[registry], r)
		mu.Unlock()
	})
	defer close(gate.open)
	run(t, fl)
	loaded := fl.Registry("a")

	gate.mu.Lock()
	gate.closed = true
	gate.mu.Unlock()
	f.write("a", snapshot(server("io.x/one", "1.0.0", "a2")))
	description := func(r *Registry) string {
		it := r.Merged.Get(merge.Key{Kind: merge.Server, Name: "io.x/one"})
		if it == nil || len(it.Versions) != 1 {
			return ""
		}
		var s struct{ Description string }
		if err := json.Unmarshal(it.Versions[0].Data, &s); err != nil {
			t.Fatal(err)
		}
		return s.Description
	}
	testsupport.Eventually(t, "the merge of a2 told while its API view is held", func() bool {
		mu.Lock()
		defer mu.Unlock()
		l := told["a"]
		return len(l) > 0 && description(l[len(l)-1]) == "a2"
	})
	m := fl.Merged("a")
	if m == nil || description(m) != "a2" || m.API != nil {
		t.Errorf("Merged(a) = %+v, want the merge of a2 without an API view", m)
	}
	if m != nil && (len(m.Sources) != 1 || m.Sources[0].Commit.Generation <= loaded.Sources[0].Commit.Generation) {
		t.Errorf("Merged(a) sources %+v, want a's new commit", m.Sources)
	}
	if r := fl.Registry("a"); r == nil || r.API == nil {
		t.Errorf("Registry(a) = %+v, not a whole view", r)
	}
}
