package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regsync/regsync/events"
	bursts "github.com/regsync/regsync/internal/burst"
	"github.com/regsync/regsync/internal/config"
)

// The answer 202 comes only after every trigger was stored.
func TestAcceptedOnlyAfterStored(t *testing.T) {
	srcs := []config.Source{
		gitSource("one", "https://github.com/acme/catalog.git", "branch:main"),
		gitSource("two", "git@github.com:acme/catalog.git", ""),
	}
	r := newTestReceiver(t, testHooks(t), srcs, Options{})
	r.pub.block = make(chan struct{})
	r.pub.entered = make(chan struct{}, 2)
	ev, body := pushOf(t, events.ProviderGitHub)
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.ServeHTTP(rec, signed(events.ProviderGitHub, githubSecret, ev, "d-1", body).request())
	}()
	<-r.pub.entered
	<-r.pub.entered
	select {
	case <-done:
		t.Fatal("answered before the triggers were stored")
	default:
	}
	close(r.pub.block)
	<-done
	if rec.Code != http.StatusAccepted {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if got := r.pub.sources(); !slices.Equal(got, []string{"one", "two"}) {
		t.Errorf("stored %v", got)
	}
}

// A trigger that cannot be stored is answered 503 with Retry-After, so the
// forge retries; the retry is accepted once the store is back.
func TestPublisherFailure(t *testing.T) {
	srcs := []config.Source{
		gitSource("one", "https://github.com/acme/catalog.git", "branch:main"),
		gitSource("two", "https://github.com/acme/catalog.git", ""),
	}
	r := newTestReceiver(t, testHooks(t), srcs, Options{})
	var tries atomic.Int32
	r.pub.fail = func(subject string) error {
		if subject == events.TriggerSubject("two") {
			tries.Add(1)
			return errors.New("nats: no responders available for request")
		}
		return nil
	}
	ev, body := pushOf(t, events.ProviderGitHub)
	d := signed(events.ProviderGitHub, githubSecret, ev, "3f1b", body)
	res := r.send(t, d)
	if res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") == "" {
		t.Fatalf("status %d, Retry-After %q: %s", res.status, res.header.Get("Retry-After"), res.raw)
	}
	// The sender retries the delivery; the receiver answers at once.
	if n := tries.Load(); n != 1 {
		t.Errorf("the failing trigger was tried %d times, want once", n)
	}
	if !slices.Equal(res.answer.Published, []string{"one"}) {
		t.Errorf("answer published %v", res.answer.Published)
	}
	if !r.logs.Contains("no responders") || !r.logs.Contains(`"level":"ERROR"`) {
		t.Errorf("the failure is not logged as an error:\n%s", r.logs)
	}

	r.pub.fail = nil
	res = r.send(t, d)
	if res.status != http.StatusAccepted {
		t.Fatalf("after recovery: status %d: %s", res.status, res.raw)
	}
	// The redelivery's trigger for "one" has the id of the first and
	// collapses with it.
	if got := r.pub.sources(); !slices.Equal(got, []string{"one", "two"}) || r.pub.dups != 1 {
		t.Errorf("stored %v with %d duplicates", got, r.pub.dups)
	}
}

// A slow store is given up after PublishTimeout.
func TestPublishTimeout(t *testing.T) {
	r := newTestReceiver(t, testHooks(t), catalogSources, Options{PublishTimeout: 20 * time.Millisecond})
	r.pub.block = make(chan struct{}) // never released
	ev, body := pushOf(t, events.ProviderGitHub)
	res := r.send(t, signed(events.ProviderGitHub, githubSecret, ev, "d-1", body))
	if res.status != http.StatusServiceUnavailable {
		t.Fatalf("status %d: %s", res.status, res.raw)
	}
}

// A redelivery is accepted again; its triggers carry the same ids, so
// JetStream keeps one.
func TestReplayAbsorbed(t *testing.T) {
	r := newTestReceiver(t, testHooks(t), catalogSources, Options{})
	ev, body := pushOf(t, events.ProviderGitHub)
	d := signed(events.ProviderGitHub, githubSecret, ev, "72d3162e-cc78-11e3-81ab-4c9367dc0958", body)
	for i := range 3 {
		if res := r.send(t, d); res.status != http.StatusAccepted {
			t.Fatalf("delivery %d: status %d", i, res.status)
		}
	}
	got := r.pub.triggers()
	if len(got) != 1 || r.pub.dups != 2 || got[0].id != "wh-github-72d3162e-cc78-11e3-81ab-4c9367dc0958-catalog" {
		t.Errorf("stored %+v, %d duplicates", got, r.pub.dups)
	}
	// Without a delivery id, every delivery is its own observation.
	d.header.Del("X-GitHub-Delivery")
	r.send(t, d)
	r.send(t, d)
	if got := r.pub.triggers(); len(got) != 3 || got[1].id == got[2].id {
		t.Errorf("without delivery ids: %d stored", len(got))
	}
}

// A source's own secret is accepted for deliveries about that source, and
// such a delivery triggers that source only.
func TestSourceSecret(t *testing.T) {
	dir := t.TempDir()
	const repo = "https://github.com/acme/catalog.git"
	own := gitSource("own", repo, "branch:main")
	own.Git.WebhookSecretFile = writeSecret(t, dir, "own", sourceSecretValue+"\n")
	ci := gitSource("ci", "https://github.com/acme/ci.git", "branch:main")
	ci.Git.WebhookSecretFile, ci.Git.WebhookProvider = own.Git.WebhookSecretFile, events.ProviderGeneric
	srcs := []config.Source{
		own,
		gitSource("shared", repo, "branch:main"),
		gitSource("elsewhere", "https://github.com/acme/other.git", "branch:main"),
		ci,
	}
	otherRepo := func() []byte {
		_, body := pushOf(t, events.ProviderGitHub)
		return []byte(strings.ReplaceAll(string(body), "acme/catalog", "acme/other"))
	}
	tests := []struct {
		name    string
		hooks   config.Webhooks
		key     string
		body    []byte
		generic string // the generic body's source
		status  int
		want    []string
		wantErr string
	}{
		{name: "provider secret triggers every match", hooks: testHooks(t), key: githubSecret, status: 202, want: []string{"own", "shared"}},
		{name: "source secret triggers its source only", hooks: testHooks(t), key: sourceSecretValue, status: 202, want: []string{"own"}},
		{name: "source secret without a provider secret", hooks: config.Webhooks{}, key: sourceSecretValue, status: 202, want: []string{"own"}},
		{name: "source secret for a repository other sources follow", hooks: testHooks(t), key: sourceSecretValue, body: otherRepo(), status: 401,
			wantErr: "the delivery is not signed with a secret of the sources of repository acme/other"},
		{name: "provider secret for another repository", hooks: testHooks(t), key: githubSecret, body: otherRepo(), status: 202, want: []string{"elsewhere"}},
		{name: "source secret is for its own receiver only", hooks: testHooks(t), key: sourceSecretValue, generic: "own", status: 401},
		{name: "generic naming the source whose secret it is for", hooks: testHooks(t), key: sourceSecretValue, generic: "ci", status: 202, want: []string{"ci"}},
		{name: "generic naming another source", hooks: testHooks(t), key: sourceSecretValue, generic: "shared", status: 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestReceiver(t, tt.hooks, srcs, Options{})
			provider, ev, body := events.ProviderGitHub, "push", tt.body
			if body == nil {
				_, body = pushOf(t, provider)
			}
			if tt.generic != "" {
				provider, ev, body = events.ProviderGeneric, "", []byte(`{"source":"`+tt.generic+`"}`)
			}
			res := r.send(t, signed(provider, tt.key, ev, "d-1", body))
			if res.status != tt.status {
				t.Fatalf("status %d, want %d: %s", res.status, tt.status, res.raw)
			}
			if !strings.Contains(res.answer.Error, tt.wantErr) {
				t.Errorf("error %q, want %q", res.answer.Error, tt.wantErr)
			}
			got := r.pub.sources()
			slices.Sort(tt.want)
			if !slices.Equal(got, tt.want) {
				t.Errorf("published %v, want %v", got, tt.want)
			}
		})
	}
}

// SetSources reads the secrets again and takes the new sources.
func TestSetSourcesReload(t *testing.T) {
	dir := t.TempDir()
	hooks := config.Webhooks{GitHub: config.WebhookSecret{SecretFile: writeSecret(t, dir, "gh", "old-secret")}}
	r := newTestReceiver(t, hooks, catalogSources, Options{})
	ev, body := pushOf(t, events.ProviderGitHub)
	if res := r.send(t, signed(events.ProviderGitHub, "old-secret", ev, "d-1", body)); res.status != http.StatusAccepted {
		t.Fatalf("status %d", res.status)
	}
	writeSecret(t, dir, "gh", "new-secret")
	if res := r.send(t, signed(events.ProviderGitHub, "new-secret", ev, "d-2", body)); res.status != http.StatusUnauthorized {
		t.Errorf("a rotated secret counts before the reload: status %d", res.status)
	}
	renamed := []config.Source{gitSource("renamed", "https://github.com/acme/catalog", "")}
	r.SetSources(renamed, hooks)
	if res := r.send(t, signed(events.ProviderGitHub, "old-secret", ev, "d-3", body)); res.status != http.StatusUnauthorized {
		t.Errorf("the old secret still counts: status %d", res.status)
	}
	if res := r.send(t, signed(events.ProviderGitHub, "new-secret", ev, "d-4", body)); res.status != http.StatusAccepted {
		t.Errorf("the new secret: status %d", res.status)
	}
	if got := r.pub.sources(); !slices.Equal(got, []string{"catalog", "renamed"}) {
		t.Errorf("published %v", got)
	}
	r.SetSources(renamed, config.Webhooks{})
	if got := r.Enabled(); len(got) != 0 {
		t.Errorf("Enabled() = %v", got)
	}
}

// Several sources on one repository, following different refs.
func TestSeveralSourcesOneRepository(t *testing.T) {
	const repo = "https://github.com/acme/catalog.git"
	srcs := []config.Source{
		gitSource("main", repo, "branch:main"),
		gitSource("dev", "git@github.com:acme/catalog.git", "branch:dev"),
		gitSource("default", "ssh://git@github.com/ACME/Catalog", ""),
		gitSource("release", repo, "tag:v2.0.0"),
		gitSource("pinned", repo, "commit:0123456789abcdef0123456789abcdef01234567"),
		fileSource("file", "/srv/registry.json"),
	}
	const sha = "89abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		ref, defaultBranch string
		deleted            bool
		want               map[string]string
	}{
		{ref: "refs/heads/main", defaultBranch: "main", want: map[string]string{"main": sha, "default": sha}},
		{ref: "refs/heads/dev", defaultBranch: "main", want: map[string]string{"dev": sha}},
		{ref: "refs/tags/v2.0.0", defaultBranch: "main", want: map[string]string{"release": sha}},
		// Without a default branch in the payload, any branch may be it.
		{ref: "refs/heads/dev", want: map[string]string{"dev": sha, "default": sha}},
		{ref: "refs/tags/v2.0.0", want: map[string]string{"release": sha}},
		// Deleting a followed branch triggers its source with no revision.
		{ref: "refs/heads/dev", defaultBranch: "main", deleted: true, want: map[string]string{"dev": ""}},
		{ref: "refs/heads/dev", deleted: true, want: map[string]string{"dev": ""}},
		{ref: "refs/heads/feature", defaultBranch: "main", deleted: true, want: map[string]string{}},
	}
	for _, tt := range tests {
		name := tt.ref
		if tt.defaultBranch == "" {
			name += "/no default"
		}
		if tt.deleted {
			name += "/deleted"
		}
		t.Run(name, func(t *testing.T) {
			r := newTestReceiver(t, testHooks(t), srcs, Options{})
			after := sha
			if tt.deleted {
				after = strings.Repeat("0", 40)
			}
			body, _ := json.Marshal(map[string]any{
				"ref": tt.ref, "after": after, "deleted": tt.deleted,
				"repository": map[string]any{"full_name": "acme/catalog", "html_url": "https://github.com/acme/catalog", "default_branch": tt.defaultBranch},
			})
			res := r.send(t, signed(events.ProviderGitHub, githubSecret, "push", "d-1", body))
			wantStatus := http.StatusAccepted
			if len(tt.want) == 0 {
				wantStatus = http.StatusOK
			}
			if res.status != wantStatus {
				t.Fatalf("status %d: %s", res.status, res.raw)
			}
			got := make(map[string]string)
			for _, tr := range r.pub.triggers() {
				got[tr.data.Source] = tr.data.Revision
			}
			if len(got) != len(tt.want) {
				t.Fatalf("published %v, want %v", got, tt.want)
			}
			for name, rev := range tt.want {
				if g, ok := got[name]; !ok || g != rev {
					t.Errorf("%s: revision %q (published %v), want %q", name, g, ok, rev)
				}
			}
		})
	}
}

// A push that moved several branches of a repository without a known
// default branch keeps no revision for a default-branch source: which of
// them is the default is not known.
func TestAnyBranchSeveralChanges(t *testing.T) {
	srcs := []config.Source{gitSource("default", "https://bitbucket.org/acme-ai/mcp-registry", "")}
	r := newTestReceiver(t, testHooks(t), srcs, Options{})
	body := readTestdata(t, "bitbucket-cloud-push.json")
	if res := r.send(t, signed(events.ProviderBitbucket, bitbucketSecret, "repo:push", "d-1", body)); res.status != http.StatusAccepted {
		t.Fatalf("status %d: %s", res.status, res.raw)
	}
	// One branch and one tag moved: the branch's commit is kept.
	if got := r.pub.triggers(); len(got) != 1 || got[0].data.Revision != "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d" {
		t.Fatalf("published %+v", got)
	}
	p := payload{changes: []change{
		{ref: "refs/heads/a", revision: strings.Repeat("a", 40)},
		{ref: "refs/heads/b", revision: strings.Repeat("b", 40)},
	}}
	c, ok := followedChange(&config.Git{}, p)
	if !ok || c.revision != "" || c.ref != "refs/heads/a" {
		t.Errorf("two branches: %+v, %v", c, ok)
	}
}

func TestEventID(t *testing.T) {
	tests := []struct{ delivery, want string }{
		{"72d3162e-cc78-11e3-81ab-4c9367dc0958", "wh-github-72d3162e-cc78-11e3-81ab-4c9367dc0958-src"},
		{"{5b1e3c6a-2f7d}", "wh-github--5b1e3c6a-2f7d--src"},
		{"a.b c/d*e>f", "wh-github-a-b-c-d-e-f-src"},
		{"Über_id", "wh-github---ber_id-src"},
	}
	for _, tt := range tests {
		if got := eventID("github", tt.delivery, "src"); got != tt.want {
			t.Errorf("eventID(%q) = %q, want %q", tt.delivery, got, tt.want)
		}
	}
	long1, long2 := strings.Repeat("x", 200)+"1", strings.Repeat("x", 200)+"2"
	a, b := safeID(long1), safeID(long2)
	if len(a) != maxDeliveryIDLen || len(b) != maxDeliveryIDLen || a == b {
		t.Errorf("long ids: %q and %q", a, b)
	}
}

// Each delivery is logged once, at info level, with what it was about.
func TestDeliveryLogged(t *testing.T) {
	r := newTestReceiver(t, testHooks(t), catalogSources, Options{})
	ev, body := pushOf(t, events.ProviderGitHub)
	r.send(t, signed(events.ProviderGitHub, githubSecret, ev, "d-77", body))
	lines := strings.Split(strings.TrimSpace(r.logs.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d log lines:\n%s", len(lines), r.logs)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{
		"level": "INFO", "provider": "github", "delivery": "d-77", "event": "push",
		"repository": "acme/catalog", "ref": "refs/heads/main", "status": float64(202),
	} {
		if rec[k] != v {
			t.Errorf("%s = %v, want %v", k, rec[k], v)
		}
	}
	if s, _ := rec["sources"].([]any); len(s) != 1 || s[0] != "catalog" {
		t.Errorf("sources = %v", rec["sources"])
	}
}

func TestSecretRedacted(t *testing.T) {
	s := secret("hunter2")
	for _, out := range []string{s.String(), s.GoString(), s.LogValue().String()} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("%q shows the secret", out)
		}
	}
}

// Reloads while deliveries are being handled: each delivery sees one
// whole configuration.
func TestReloadDuringDeliveries(t *testing.T) {
	hooks := testHooks(t)
	r := newTestReceiver(t, hooks, catalogSources, Options{})
	ev, body := pushOf(t, events.ProviderGitHub)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 50 {
			r.SetSources(catalogSources, hooks)
			_ = r.Enabled()
		}
	}()
	for i := range 50 {
		res := r.send(t, signed(events.ProviderGitHub, githubSecret, ev, "d-"+string(rune('a'+i%26)), body))
		if res.status != http.StatusAccepted {
			t.Fatalf("status %d: %s", res.status, res.raw)
		}
	}
	<-done
	if got := strings.Join(r.Enabled(), ","); got != "github,gitlab,gitea,bitbucket,generic" {
		t.Errorf("Enabled() = %s", got)
	}
}

// A source's own secret enables the receiver it is for and no other: the
// others stay disabled (404) as without any secret.
func TestSourceSecretEnablesItsReceiverOnly(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, repository, provider, want string
	}{
		{"github.com", "https://github.com/acme/catalog.git", "", "github"},
		{"gitlab.com over ssh", "git@gitlab.com:acme/catalog.git", "", "gitlab"},
		{"codeberg.org", "https://codeberg.org/acme/catalog", "", "gitea"},
		{"a self-hosted forge named in the configuration", "https://git.example.com/acme/catalog.git", "bitbucket", "bitbucket"},
		{"a self-hosted forge not named", "https://git.example.com/acme/catalog.git", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := gitSource("catalog", tc.repository, "branch:main")
			src.Git.WebhookSecretFile = writeSecret(t, dir, "s", sourceSecretValue)
			src.Git.WebhookProvider = tc.provider
			r := newTestReceiver(t, config.Webhooks{}, []config.Source{src}, Options{})
			if got := strings.Join(r.Enabled(), ","); got != tc.want {
				t.Errorf("Enabled() = %q, want %q", got, tc.want)
			}
			for _, p := range providerNames {
				if p == tc.want {
					continue
				}
				ev, body := pushOf(t, p)
				if res := r.send(t, signed(p, sourceSecretValue, ev, "d-1", body)); res.status != http.StatusNotFound {
					t.Errorf("%s: status %d, want 404", p, res.status)
				}
			}
		})
	}
}

// The receiver never decides on its own to collect garbage: serve's
// burst.Tracker returns memory once a burst has passed, and a burst that
// drains forces no collection without it.
func TestReceiverForcesNoCollection(t *testing.T) {
	hooks := config.Webhooks{GitHub: config.WebhookSecret{SecretFile: writeSecret(t, t.TempDir(), "gh", githubSecret)}}
	r := New(&encodingPublisher{}, hooks, helloSources, Options{RatePerSecond: -1}, nil)
	body := samplePush()
	forced := func() uint32 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.NumForcedGC
	}
	before := forced()
	for i := range bursts.Size {
		if code := deliver(r, body, fmt.Sprintf("72d3162e-cc78-11e3-81ab-%012d", i)); code != http.StatusAccepted {
			t.Fatalf("status %d", code)
		}
	}
	if n := forced() - before; n != 0 {
		t.Errorf("%d collections forced by a drained burst without a memory hook", n)
	}
}
