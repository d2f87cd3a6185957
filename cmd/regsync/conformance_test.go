package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/testsupport"
)

// confStates are the registry file's contents in turn: adds, edits,
// removals (of a whole name and of one version) and a removed version
// coming back, over names and versions the routes must encode.
var confStates = [][]string{
	{"io.example/multi@1.0.0 multi one", "io.example/multi@2.0.0 multi two", "io.example/plus@1.0.0+20130313144700 build metadata",
		"io.example/s01@1.0.0 one", "io.example/s02@1.0.0 two", "io.example/s03@1.0.0 three", "io.example/s04@1.0.0 four",
		"io.example/s05@1.0.0 five", "io.example/s06@1.0.0 six", "io.example/s07@1.0.0 seven", "io.example/s08@1.0.0 eight"},
	{"io.example/multi@1.0.0 multi one", "io.example/multi@2.0.0 multi two", "io.example/plus@1.0.0+20130313144700 build metadata",
		"io.example/s01@1.0.0 one", "io.example/s02@1.0.0 two", "io.example/s03@1.0.0 three, edited", "io.example/s04@1.0.0 four",
		"io.example/s05@1.0.0 five", "io.example/s06@1.0.0 six", "io.example/s07@1.0.0 seven", "io.example/s08@1.0.0 eight",
		"io.example/s09@1.0.0 nine, added"},
	{"io.example/multi@2.0.0 multi two", "io.example/multi@2.1.0 multi two-one, added", "io.example/plus@1.0.0+20130313144700 build metadata",
		"io.example/s01@1.0.0 one", "io.example/s02@1.0.0 two", "io.example/s03@1.0.0 three, edited", "io.example/s04@1.0.0 four",
		"io.example/s06@1.0.0 six", "io.example/s07@1.0.0 seven", "io.example/s08@1.0.0 eight", "io.example/s09@1.0.0 nine, added"},
	{"io.example/multi@1.0.0 multi one", "io.example/multi@2.0.0 multi two", "io.example/multi@2.1.0 multi two-one, added",
		"io.example/plus@1.0.0+20130313144700 build metadata", "io.example/s01@1.0.0 one, edited", "io.example/s02@1.0.0 two",
		"io.example/s03@1.0.0 three, edited", "io.example/s04@1.0.0 four", "io.example/s05@1.0.0 five",
		"io.example/s06@1.0.0 six", "io.example/s07@1.0.0 seven", "io.example/s09@1.0.0 nine, added"},
}

// replica is one `regsync serve` of a deployment on a NATS server of the
// test's own, which can be stopped and started again.
type replica struct {
	cfgPath, natsURL string
	httpAddr         string
	log              *testsupport.Buffer
	cancel           context.CancelFunc
	served           chan error
}

// writeReplicaConfig writes a configuration of one file source "conf" on
// regPath, with its own data directory, and returns its path.
func writeReplicaConfig(t *testing.T, regPath string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf("dataDir: %s\nhttp: {addr: %q}\nsources:\n  - name: conf\n    file: {path: %s}\n    syncPolicy: {interval: 30m}\n",
		filepath.Join(dir, "data"), anyPort, regPath)
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// startReplica runs `regsync serve` on cfgPath against the NATS server at
// natsURL until stop or the end of the test, and waits for its HTTP
// listener (not for its views: a replica answers 503 until they load).
func startReplica(t *testing.T, cfgPath, natsURL string) *replica {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &replica{cfgPath: cfgPath, natsURL: natsURL, log: &testsupport.Buffer{}, cancel: cancel, served: make(chan error, 1)}
	go func() {
		r.served <- run(ctx, []string{"serve", "--config", cfgPath, "--nats-url", natsURL}, &bytes.Buffer{}, r.log)
	}()
	t.Cleanup(func() {
		r.stop(t)
		if t.Failed() {
			t.Logf("serve log of %s:\n%s", cfgPath, r.log.String())
		}
	})
	r.httpAddr = listening(t, r.log, "http listening", "addr")
	return r
}

// stop ends the replica and waits until serve returned; a second stop
// does nothing.
func (r *replica) stop(t *testing.T) {
	t.Helper()
	if r.served == nil {
		return
	}
	r.cancel()
	select {
	case err := <-r.served:
		if err != nil {
			t.Errorf("serve: %v", err)
		}
	case <-time.After(testsupport.Patience):
		t.Error("serve did not stop")
	}
	r.served = nil
}

func (r *replica) base() string { return "http://" + r.httpAddr + "/registry/conf" }

// confPaths are the requests two replicas must answer alike: every route,
// a page resumed from cursor, encoded names and versions, errors.
func confPaths(cursor string) []string {
	return []string{
		"/openapi.yaml",
		"/v0.1/servers",
		"/v0.1/servers?limit=2",
		"/v0.1/servers?limit=2&cursor=" + cursor,
		"/v0.1/servers?version=latest",
		"/v0.1/servers?search=MULTI",
		"/v0.1/servers?include_deleted=true",
		"/v0.1/servers?updated_since=1990-01-01T00:00:00Z",
		"/v0.1/servers/io.example%2Fmulti/versions",
		"/v0.1/servers/io.example%2Fmulti/versions?include_deleted=true",
		"/v0.1/servers/io.example%2Fmulti/versions/latest",
		"/v0.1/servers/io.example%2Fmulti/versions/2.0.0",
		"/v0.1/servers/io.example%2Fplus/versions/1.0.0%2B20130313144700",
		"/v0.1/x/dev.toolhive/skills",
		"/v0.1/x/dev.toolhive/plugins",
		"/v0.1/servers/io.example%2Fnone/versions",
		"/v0.1/servers?limit=0",
	}
}

// sameAnswers checks that both replicas answer every request of confPaths
// with the same code, ETag and bytes, plain and gzipped, and that each
// answers 304 to the other's ETag.
func sameAnswers(t *testing.T, a, b *replica) {
	t.Helper()
	page := apiGet(t, a.base()+"/v0.1/servers?limit=2")
	l, _ := listServers(t, a.base())
	if len(l.Servers) < 3 || page.code != http.StatusOK {
		t.Fatalf("the listing is too short to page: %d %s", page.code, page.body)
	}
	cursor := strings.Split(strings.Split(string(page.body), `"nextCursor":"`)[1], `"`)[0]
	for _, path := range confPaths(cursor) {
		for _, enc := range []string{"identity", "gzip"} {
			x := apiGet(t, a.base()+path, "Accept-Encoding", enc)
			y := apiGet(t, b.base()+path, "Accept-Encoding", enc)
			if x.code != y.code || x.etag != y.etag || !bytes.Equal(x.body, y.body) {
				t.Errorf("GET %s (%s): replicas differ:\n %d %s %.300s\n %d %s %.300s", path, enc, x.code, x.etag, x.body, y.code, y.etag, y.body)
				continue
			}
			if enc == "gzip" && len(x.body) >= 1024 && !bytes.HasPrefix(x.body, []byte{0x1f, 0x8b}) {
				t.Errorf("GET %s: not gzipped", path)
			}
			if x.code != http.StatusOK {
				continue
			}
			if z := apiGet(t, b.base()+path, "If-None-Match", x.etag); z.code != http.StatusNotModified {
				t.Errorf("GET %s with the other replica's ETag: %d", path, z.code)
			}
		}
	}
}

// confDeployment is two replicas of one deployment on a NATS server of
// the test's own, serving the registry file of confStates[0].
func confDeployment(t *testing.T) (a, b *replica, regPath string) {
	t.Helper()
	ns := testsupport.NATS(t, server.Options{JetStream: true, StoreDir: t.TempDir()})
	regPath = filepath.Join(t.TempDir(), "registry.json")
	if err := os.WriteFile(regPath, []byte(registryJSON(confStates[0]...)), 0o644); err != nil {
		t.Fatal(err)
	}
	a = startReplica(t, writeReplicaConfig(t, regPath), ns.ClientURL())
	b = startReplica(t, writeReplicaConfig(t, regPath), ns.ClientURL())
	for _, r := range []*replica{a, b} {
		waitServing(t, r, confStates[0])
	}
	return a, b, regPath
}

// waitServing waits until the replica lists the live versions of state.
func waitServing(t *testing.T, r *replica, state []string) {
	t.Helper()
	waitListing(t, r.base(), state)
}

// waitListing waits until the registry at base lists the live versions
// of state.
func waitListing(t *testing.T, base string, state []string) {
	t.Helper()
	want := liveKeys(state)
	testsupport.Eventually(t, base+" serving "+strings.Join(want, ", "), func() bool {
		a := apiGet(t, base+"/v0.1/servers?limit=1000")
		return a.code == http.StatusOK && slices.Equal(listedKeys(t, a.body), want)
	})
}

// liveKeys are the "name@version description" entries of a state, in the
// order a listing has them.
func liveKeys(state []string) []string {
	out := slices.Clone(state)
	slices.Sort(out)
	return out
}

// listedKeys are the entries of a ServerList as liveKeys names them.
func listedKeys(t *testing.T, body []byte) []string {
	t.Helper()
	var l serverList
	if err := json.Unmarshal(body, &l); err != nil {
		t.Fatalf("not a ServerList: %v\n%s", err, body)
	}
	out := []string{}
	for _, s := range l.Servers {
		out = append(out, s.Server.Name+"@"+s.Server.Version+" "+s.Server.Description)
	}
	return out
}

// TestReplicasAnswerAlike runs two replicas on one NATS and, after each
// change of the source, expects every route to answer the same bodies and
// ETags on both.
func TestReplicasAnswerAlike(t *testing.T) {
	a, b, regPath := confDeployment(t)
	for i, state := range confStates {
		if i > 0 {
			writeAtomically(t, regPath, registryJSON(state...))
			waitServing(t, a, state)
			waitServing(t, b, state)
		}
		t.Run(fmt.Sprintf("after change %d", i), func(t *testing.T) { sameAnswers(t, a, b) })
	}
}

// TestRestartedReplicaServesNoMixedView restarts a replica while the
// source keeps changing. Every answer it gives while it catches up is
// 503 or a view the other replica served (the same ETag and bytes), and
// it ends serving what the other serves.
func TestRestartedReplicaServesNoMixedView(t *testing.T) {
	a, b, regPath := confDeployment(t)
	const listing = "/v0.1/servers?include_deleted=true&limit=1000"

	// served holds every view of the listing that a served, by ETag.
	served := map[string][]byte{}
	record := func() {
		x := apiGet(t, a.base()+listing)
		if x.code != http.StatusOK {
			t.Fatalf("GET %s on the running replica: %d %s", listing, x.code, x.body)
		}
		served[x.etag] = x.body
	}
	record()

	// The poller asks b for the listing as fast as it answers, wherever
	// b listens now, until stopped.
	var addr atomic.Pointer[string]
	var mu sync.Mutex
	var seen []apiAnswer
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			p := addr.Load()
			if p == nil {
				continue
			}
			resp, err := http.Get("http://" + *p + "/registry/conf" + listing)
			if err != nil {
				continue // between the stop and the start
			}
			var body bytes.Buffer
			_, _ = body.ReadFrom(resp.Body)
			resp.Body.Close()
			mu.Lock()
			seen = append(seen, apiAnswer{code: resp.StatusCode, etag: resp.Header.Get("ETag"), body: body.Bytes()})
			mu.Unlock()
		}
	}()
	addr.Store(&b.httpAddr)

	// After the restart the source keeps changing: edits one after the
	// other, each synced while b may still be loading.
	churn := slices.Clone(confStates[1:])
	for k := range 6 {
		next := slices.Clone(churn[len(churn)-1])
		next[5] = fmt.Sprintf("io.example/s02@1.0.0 two, edit %d", k)
		churn = append(churn, next)
	}
	for i, state := range churn {
		writeAtomically(t, regPath, registryJSON(state...))
		if i == 1 {
			// Restart b while the change is being synced.
			b.stop(t)
			b = startReplica(t, b.cfgPath, b.natsURL)
			addr.Store(&b.httpAddr)
		}
		waitServing(t, a, state)
		record()
	}
	final := churn[len(churn)-1]
	waitServing(t, b, final)
	// b's own answers after it caught up are in seen too.
	testsupport.Eventually(t, "the poller to see the caught-up replica", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) > 0 && seen[len(seen)-1].code == http.StatusOK && bytes.Equal(seen[len(seen)-1].body, served[apiGet(t, a.base()+listing).etag])
	})
	close(stop)
	<-done

	mu.Lock()
	defer mu.Unlock()
	loading := 0
	for i, ans := range seen {
		switch {
		case ans.code == http.StatusServiceUnavailable:
			loading++
		case ans.code != http.StatusOK:
			t.Errorf("answer %d: %d %s", i, ans.code, ans.body)
		case served[ans.etag] == nil:
			t.Errorf("answer %d: ETag %s is of no view the other replica served:\n%s", i, ans.etag, ans.body)
		case !bytes.Equal(served[ans.etag], ans.body):
			t.Errorf("answer %d: ETag %s with other bytes than the other replica served under it:\n%s\n%s", i, ans.etag, ans.body, served[ans.etag])
		}
	}
	t.Logf("%d answers from the replica, %d of them 503 while it loaded; %d views served", len(seen), loading, len(served))
	sameAnswers(t, a, b)
}

// officialServer is a ServerResponse of a listing: the server as
// decoded, and the registry's metadata of it.
type officialServer struct {
	Server map[string]any `json:"server"`
	Meta   struct {
		Official struct {
			Status      string    `json:"status"`
			PublishedAt time.Time `json:"publishedAt"`
			UpdatedAt   time.Time `json:"updatedAt"`
			IsLatest    bool      `json:"isLatest"`
		} `json:"io.modelcontextprotocol.registry/official"`
	} `json:"_meta"`
}

// fullListing follows the cursors of base's listing with the given query
// and returns every entry, in order.
func fullListing(t *testing.T, base, query string) []officialServer {
	t.Helper()
	var out []officialServer
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatalf("%s?%s: more than 100 pages", base, query)
		}
		u := base + "/v0.1/servers?limit=5&" + query
		if cursor != "" {
			u += "&cursor=" + cursor
		}
		a := apiGet(t, u)
		if a.code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", u, a.code, a.body)
		}
		var page struct {
			Servers  []officialServer `json:"servers"`
			Metadata struct {
				NextCursor string `json:"nextCursor"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(a.body, &page); err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		out = append(out, page.Servers...)
		if page.Metadata.NextCursor == "" {
			return out
		}
		cursor = page.Metadata.NextCursor
	}
}

func (s officialServer) key() string { return fmt.Sprint(s.Server["name"], "@", s.Server["version"]) }

// richRegistryJSON is registryJSON of state with fields of the MCP server
// schema beyond name, description and version on the entries of plus.
func richRegistryJSON(t *testing.T, state []string) string {
	t.Helper()
	raw := registryJSON(state...)
	rich := strings.Replace(raw, `{"name":"io.example/plus",`,
		`{"$schema":"`+currentServerSchema+`","title":"Plus",`+
			`"repository":{"url":"https://github.com/example/plus","source":"github"},"websiteUrl":"https://example.com/plus","name":"io.example/plus",`, 1)
	if rich == raw {
		t.Fatal("the state has no io.example/plus")
	}
	return rich
}

// currentServerSchema is the $schema an api source gives an entry listed
// without one.
const currentServerSchema = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"

// TestRegsyncSyncsFromRegsync points the api source of one regsync at the
// registry another regsync serves, and after each change of the first
// one's source (and a sync of the api source) expects the same servers
// listed by both: every field of each server, its status and isLatest.
// publishedAt and updatedAt are each regsync's own (when it stored the
// entry), so they are not compared.
func TestRegsyncSyncsFromRegsync(t *testing.T) {
	ns := testsupport.NATS(t, server.Options{JetStream: true, StoreDir: t.TempDir()})
	regPath := filepath.Join(t.TempDir(), "registry.json")
	if err := os.WriteFile(regPath, []byte(richRegistryJSON(t, confStates[0])), 0o644); err != nil {
		t.Fatal(err)
	}
	upstream := startReplica(t, writeReplicaConfig(t, regPath), ns.ClientURL())
	waitServing(t, upstream, confStates[0])

	mirror := serveSources(t, "mirror", fmt.Sprintf("  - name: mirror\n    api: {endpoint: %q}\n    syncPolicy: {interval: 30m}\n", upstream.base()))
	mirrorBase := "http://" + mirror.httpAddr + "/registry/default"

	for i, state := range confStates {
		if i > 0 {
			writeAtomically(t, regPath, richRegistryJSON(t, state))
			waitServing(t, upstream, state)
			syncMirror(t, mirror, i)
		}
		// The mirror's view follows its sync's commit, not its result:
		// wait until it lists the upstream's servers, then compare all.
		testsupport.Eventually(t, fmt.Sprintf("the mirror to list the upstream's servers after change %d", i), func() bool {
			return slices.Equal(listingKeys(fullListing(t, upstream.base(), "")), listingKeys(fullListing(t, mirrorBase, "")))
		})
		t.Run(fmt.Sprintf("after change %d", i), func(t *testing.T) {
			want, got := fullListing(t, upstream.base(), ""), fullListing(t, mirrorBase, "")
			if len(got) != len(want) {
				t.Fatalf("the mirror lists %d servers, the upstream %d", len(got), len(want))
			}
			for j := range want {
				w, g := want[j], got[j]
				// An entry stored without $schema is listed by the api
				// source as of the current server schema.
				if _, ok := w.Server["$schema"]; !ok {
					if g.Server["$schema"] != currentServerSchema {
						t.Errorf("%s: the mirror's $schema is %v, want %s for an entry without one", w.key(), g.Server["$schema"], currentServerSchema)
					}
					delete(g.Server, "$schema")
				}
				if !reflect.DeepEqual(g.Server, w.Server) {
					t.Errorf("entry %d: the mirror serves\n %v\nthe upstream\n %v", j, g.Server, w.Server)
				}
				if g.Meta.Official.Status != w.Meta.Official.Status || g.Meta.Official.IsLatest != w.Meta.Official.IsLatest {
					t.Errorf("%s: the mirror's _meta %+v, the upstream's %+v", w.key(), g.Meta.Official, w.Meta.Official)
				}
			}
		})
	}
}

// syncMirror asks the mirror of TestRegsyncSyncsFromRegsync to sync its
// api source after change i of the upstream, and checks the answer: the
// first result of a sync started after the request. That sync takes the
// change (completed), or finds it taken already (skipped, no data
// changes) by a sync the api source's poller asked for: the poller checks
// once at start, and its trigger may be answered after the startup sync,
// once the upstream has changed.
func syncMirror(t *testing.T, mirror *service, i int) {
	t.Helper()
	out, errOut, err := cli(t, "sync", "mirror", "--wait", "--config", mirror.cfgPath)
	var ev struct {
		Type string
		Data struct{ Reason string }
	}
	if err != nil || json.Unmarshal([]byte(out), &ev) != nil {
		t.Fatalf("sync of the api source after change %d: %v\n%s%s", i, err, out, errOut)
	}
	if ev.Type != events.TypeSyncCompleted && (ev.Type != events.TypeSyncSkipped || ev.Data.Reason != events.ReasonManualNoChanges) {
		t.Fatalf("sync of the api source after change %d answered %s %s, want it completed or skipped without data changes\n%s", i, ev.Type, ev.Data.Reason, out)
	}
}

// listingKeys are the name@version keys of a listing, in its order, each
// with its server's content but $schema (which the api source may fill).
func listingKeys(list []officialServer) []string {
	keys := make([]string, len(list))
	for i, e := range list {
		server := maps.Clone(e.Server)
		delete(server, "$schema")
		keys[i] = e.key() + " " + fmt.Sprint(server)
	}
	return keys
}

// TestIncrementalClientOfAMergedRegistry follows the official registry's
// incremental recipe against a registry merged from two sources: one full
// listing, then after each change updated_since the newest updatedAt seen,
// storing active entries and dropping deleted ones. Besides adds, edits
// and removals, the first source drops a name the second also has (whose
// versions then win) and takes it back (hiding them again). After every
// change the client holds exactly what a full listing lists.
func TestIncrementalClientOfAMergedRegistry(t *testing.T) {
	dir := t.TempDir()
	first, second := filepath.Join(dir, "first.json"), filepath.Join(dir, "second.json")
	steps := []struct{ first, second, want []string }{
		{
			first:  []string{"io.example/shared@1.0.0 from-first", "io.example/a@1.0.0 a"},
			second: []string{"io.example/shared@2.0.0 from-second", "io.example/b@1.0.0 b"},
			want:   []string{"io.example/shared@1.0.0 from-first", "io.example/a@1.0.0 a", "io.example/b@1.0.0 b"},
		},
		{
			first:  []string{"io.example/shared@1.0.0 from-first", "io.example/a@1.0.0 a, edited", "io.example/c@1.0.0 c"},
			second: []string{"io.example/shared@2.0.0 from-second", "io.example/b@1.0.0 b"},
			want:   []string{"io.example/shared@1.0.0 from-first", "io.example/a@1.0.0 a, edited", "io.example/b@1.0.0 b", "io.example/c@1.0.0 c"},
		},
		{
			first:  []string{"io.example/a@1.0.0 a, edited", "io.example/c@1.0.0 c"},
			second: []string{"io.example/shared@2.0.0 from-second", "io.example/b@1.0.0 b"},
			want:   []string{"io.example/shared@2.0.0 from-second", "io.example/a@1.0.0 a, edited", "io.example/b@1.0.0 b", "io.example/c@1.0.0 c"},
		},
		{
			first:  []string{"io.example/shared@1.0.0 from-first", "io.example/a@1.0.0 a, edited", "io.example/c@1.0.0 c"},
			second: []string{"io.example/shared@2.0.0 from-second", "io.example/b@1.0.0 b, edited"},
			want:   []string{"io.example/shared@1.0.0 from-first", "io.example/a@1.0.0 a, edited", "io.example/b@1.0.0 b, edited", "io.example/c@1.0.0 c"},
		},
		{
			first:  []string{"io.example/shared@1.0.0 from-first", "io.example/c@1.0.0 c"},
			second: []string{"io.example/shared@2.0.0 from-second", "io.example/b@1.0.0 b, edited", "io.example/d@1.0.0 d"},
			want:   []string{"io.example/shared@1.0.0 from-first", "io.example/b@1.0.0 b, edited", "io.example/c@1.0.0 c", "io.example/d@1.0.0 d"},
		},
	}
	write := func(path string, state []string) {
		writeAtomically(t, path, registryJSON(state...))
	}
	write(first, steps[0].first)
	write(second, steps[0].second)
	dataDir := filepath.Join(dir, "data")
	cfgPath := filepath.Join(dir, "config.yaml")
	cfg := fmt.Sprintf("dataDir: %s\nnats:\n  embedded: {listen: %q}\nhttp: {addr: %q}\nsources:\n"+
		"  - name: first\n    file: {path: %s}\n    syncPolicy: {interval: 30m}\n"+
		"  - name: second\n    file: {path: %s}\n    syncPolicy: {interval: 30m}\n"+
		"registries:\n  - name: merged\n    sources: [first, second]\n", dataDir, anyPort, anyPort, first, second)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	svc := serveConfig(t, cfgPath, dataDir, "first")
	base := "http://" + svc.httpAddr + "/registry/merged"
	waitListing(t, base, steps[0].want)

	held := map[string]string{} // name@version → server bytes
	var newest time.Time
	apply := func(query string) {
		for _, s := range fullListing(t, base, query) {
			if s.Meta.Official.Status == "deleted" {
				delete(held, s.key())
			} else {
				b, _ := json.Marshal(s.Server)
				held[s.key()] = string(b)
			}
			if s.Meta.Official.UpdatedAt.After(newest) {
				newest = s.Meta.Official.UpdatedAt
			}
		}
	}
	apply("")
	for i, step := range steps {
		if i > 0 {
			write(first, step.first)
			write(second, step.second)
			waitListing(t, base, step.want)
			apply("updated_since=" + newest.Format(time.RFC3339Nano))
		}
		full := map[string]string{}
		for _, s := range fullListing(t, base, "") {
			b, _ := json.Marshal(s.Server)
			full[s.key()] = string(b)
		}
		if !maps.Equal(held, full) {
			t.Fatalf("after change %d the incremental client holds\n %v\nthe full listing is\n %v", i, held, full)
		}
	}
}
