package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/bus"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/testsupport"
	"github.com/regsync/regsync/schemas"
)

// Test secrets: one per provider, and one for a source.
const (
	githubSecret    = "gh-test-secret-1c9e"
	gitlabToken     = "gl-test-token-77a2"
	giteaSecret     = "gt-test-secret-5d01"
	bitbucketSecret = "bb-test-secret-e4b8"
	genericSecret   = "gn-test-secret-90fc"
)

// secretOf is the provider secret each test receiver is configured with.
var secretOf = map[string]string{
	events.ProviderGitHub:    githubSecret,
	events.ProviderGitLab:    gitlabToken,
	events.ProviderGitea:     giteaSecret,
	events.ProviderBitbucket: bitbucketSecret,
	events.ProviderGeneric:   genericSecret,
}

// published is one trigger the fake stored, decoded as a worker reads it.
type published struct {
	subject string
	id      string
	source  string // CloudEvents source: the producer
	data    events.SourceChanged
}

// fakePublisher stores triggers in memory. Every trigger goes through the
// NATS binding (events.Encode, events.Decode) and is checked against the
// source-changed schema, as a worker would receive it.
type fakePublisher struct {
	t *testing.T

	mu     sync.Mutex
	stored []published
	seen   map[string]bool // event ids stored: JetStream's duplicate window
	dups   int
	// fail, when set, makes a publish fail with its error.
	fail func(subject string) error
	// block, when set, holds every publish until it is closed.
	block chan struct{}
	// entered receives a value each time Publish is entered.
	entered chan struct{}
}

var (
	schemaOnce sync.Once
	schemaSC   *jsonschema.Schema
	schemaErr  error
)

func sourceChangedSchema() (*jsonschema.Schema, error) {
	schemaOnce.Do(func() {
		const name = "source-changed.v1.json"
		b, err := schemas.Lookup(name)
		if err != nil {
			schemaErr = err
			return
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			schemaErr = err
			return
		}
		c := jsonschema.NewCompiler()
		if err := c.AddResource(schemas.ID(name), doc); err != nil {
			schemaErr = err
			return
		}
		schemaSC, schemaErr = c.Compile(schemas.ID(name))
	})
	return schemaSC, schemaErr
}

func newFakePublisher(t *testing.T) *fakePublisher {
	return &fakePublisher{t: t, seen: make(map[string]bool)}
}

// testDeployment is the deployment id of the fake publisher.
const testDeployment = "webhooktest"

func (p *fakePublisher) Source(producer string) string {
	return events.ProducerSource(testDeployment, producer)
}

func (p *fakePublisher) Publish(ctx context.Context, subject string, ev event.Event) (bus.Stored, error) {
	return bus.Stored{Event: ev}, p.store(ctx, subject, ev)
}

func (p *fakePublisher) store(ctx context.Context, subject string, ev event.Event) error {
	if p.entered != nil {
		p.entered <- struct{}{}
	}
	if p.block != nil {
		select {
		case <-p.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if p.fail != nil {
		if err := p.fail(subject); err != nil {
			return err
		}
	}
	msg, err := events.Encode(subject, ev)
	if err != nil {
		return p.bad("encode: %v", err)
	}
	if got := msg.Header.Get("Nats-Msg-Id"); got != ev.ID() {
		return p.bad("Nats-Msg-Id %q, want the event id %q", got, ev.ID())
	}
	dec, err := events.Decode(msg.Header, msg.Data)
	if err != nil {
		return p.bad("decode: %v", err)
	}
	d, err := events.DecodeData[events.SourceChanged](dec)
	if err != nil {
		return p.bad("decode data: %v", err)
	}
	sch, err := sourceChangedSchema()
	if err != nil {
		return p.bad("schema: %v", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(dec.Data()))
	if err != nil {
		return p.bad("data: %v", err)
	}
	if err := sch.Validate(inst); err != nil {
		return p.bad("data %s does not match the schema: %v", dec.Data(), err)
	}
	if subject != events.TriggerSubject(d.Source) {
		return p.bad("subject %s for source %s", subject, d.Source)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.seen[ev.ID()] {
		p.dups++
		return nil
	}
	p.seen[ev.ID()] = true
	p.stored = append(p.stored, published{subject: subject, id: ev.ID(), source: dec.Source(), data: d})
	return nil
}

func (p *fakePublisher) bad(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	p.t.Errorf("fake publisher: %v", err)
	return err
}

// triggers returns the stored triggers sorted by source.
func (p *fakePublisher) triggers() []published {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := slices.Clone(p.stored)
	slices.SortFunc(out, func(a, b published) int { return strings.Compare(a.data.Source, b.data.Source) })
	return out
}

func (p *fakePublisher) sources() []string {
	var out []string
	for _, tr := range p.triggers() {
		out = append(out, tr.data.Source)
	}
	return out
}

// writeSecret writes value to a file in dir and returns its path.
func writeSecret(t testing.TB, dir, name, value string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(value), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// testHooks configures every provider with its test secret, from files
// (GitHub's with a trailing newline, as editors write it) and from the
// environment (Gitea's).
func testHooks(t *testing.T) config.Webhooks {
	t.Helper()
	dir := t.TempDir()
	const env = "REGSYNC_TEST_GITEA_SECRET"
	t.Setenv(env, giteaSecret)
	return config.Webhooks{
		GitHub:    config.WebhookSecret{SecretFile: writeSecret(t, dir, "github", githubSecret+"\n")},
		GitLab:    config.WebhookToken{TokenFile: writeSecret(t, dir, "gitlab", gitlabToken+"\r\n")},
		Gitea:     config.WebhookSecret{SecretEnv: env},
		Bitbucket: config.WebhookSecret{SecretFile: writeSecret(t, dir, "bitbucket", bitbucketSecret)},
		Generic:   config.WebhookSecret{SecretFile: writeSecret(t, dir, "generic", genericSecret)},
	}
}

// gitSource returns a git source; ref is "branch:x", "tag:x", "commit:x"
// or "" for the default branch.
func gitSource(name, repo, ref string) config.Source {
	g := &config.Git{Repository: repo}
	kind, value, _ := strings.Cut(ref, ":")
	switch kind {
	case "branch":
		g.Branch = value
	case "tag":
		g.Tag = value
	case "commit":
		g.Commit = value
	}
	return config.Source{Name: name, Git: g, SyncPolicy: &config.SyncPolicy{Interval: config.Duration(30 * time.Minute)}}
}

func fileSource(name, path string) config.Source {
	return config.Source{Name: name, File: &config.File{Path: path}, SyncPolicy: &config.SyncPolicy{Interval: config.Duration(30 * time.Minute)}}
}

// testReceiver is a Receiver with a fake publisher and captured logs. Its
// clock stands still unless a test moves it.
type testReceiver struct {
	*Receiver
	pub   *fakePublisher
	logs  *testsupport.Buffer
	clock *testClock
}

// testClock is a clock that stands still until advance moves it; moving
// it runs the functions that fall due, earliest first, on the caller's
// goroutine.
type testClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*testTimer
}

type testTimer struct {
	at time.Time
	f  func()
}

func newTestClock() *testClock {
	return &testClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &testTimer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return func() bool { return c.remove(t) }
}

func (c *testClock) remove(t *testTimer) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := slices.Index(c.timers, t)
	if i < 0 {
		return false
	}
	c.timers = slices.Delete(c.timers, i, i+1)
	return true
}

// advance moves the clock on by d and runs what falls due meanwhile.
func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var next *testTimer
		for _, t := range c.timers {
			if !t.at.After(c.now) && (next == nil || t.at.Before(next.at)) {
				next = t
			}
		}
		c.mu.Unlock()
		if next == nil || !c.remove(next) {
			return
		}
		next.f()
	}
}

func newTestReceiver(t *testing.T, hooks config.Webhooks, srcs []config.Source, opts Options) *testReceiver {
	t.Helper()
	pub := newFakePublisher(t)
	logs := &testsupport.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if opts.RatePerSecond == 0 {
		opts.RatePerSecond = -1 // most tests send more than a client may
	}
	r := New(pub, hooks, srcs, opts, logger)
	clock := newTestClock()
	r.clock = clock
	t.Cleanup(func() {
		for _, s := range []string{githubSecret, gitlabToken, giteaSecret, bitbucketSecret, genericSecret, sourceSecretValue} {
			if logs.Contains(s) {
				t.Errorf("a secret is in the log:\n%s", logs.String())
			}
		}
	})
	return &testReceiver{Receiver: r, pub: pub, logs: logs, clock: clock}
}

const sourceSecretValue = "src-test-secret-a7f3"

func hmacHex(key string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// hook is a webhook request to send.
type hook struct {
	provider string
	header   http.Header
	body     []byte
}

// signed returns a request signed (or, for GitLab, carrying the token)
// with key, with the provider's event and delivery headers.
func signed(provider, key, eventName, deliveryID string, body []byte) hook {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	switch provider {
	case events.ProviderGitHub:
		h.Set("X-Hub-Signature-256", "sha256="+hmacHex(key, body))
		h.Set("X-GitHub-Event", eventName)
		h.Set("X-GitHub-Delivery", deliveryID)
	case events.ProviderGitLab:
		h.Set("X-Gitlab-Token", key)
		h.Set("X-Gitlab-Event", eventName)
		h.Set("X-Gitlab-Event-UUID", deliveryID)
	case events.ProviderGitea:
		h.Set("X-Gitea-Signature", hmacHex(key, body))
		h.Set("X-Gitea-Event", eventName)
		h.Set("X-Gitea-Delivery", deliveryID)
	case events.ProviderBitbucket:
		h.Set("X-Hub-Signature", "sha256="+hmacHex(key, body))
		h.Set("X-Event-Key", eventName)
		h.Set("X-Request-UUID", deliveryID)
	case events.ProviderGeneric:
		h.Set("X-Signature", "sha256="+hmacHex(key, body))
		h.Set("X-Delivery-Id", deliveryID)
	}
	return hook{provider: provider, header: h, body: body}
}

// signatureHeader is the header carrying each provider's proof.
var signatureHeader = map[string]string{
	events.ProviderGitHub:    "X-Hub-Signature-256",
	events.ProviderGitLab:    "X-Gitlab-Token",
	events.ProviderGitea:     "X-Gitea-Signature",
	events.ProviderBitbucket: "X-Hub-Signature",
	events.ProviderGeneric:   "X-Signature",
}

func (d hook) request() *http.Request {
	req := httptest.NewRequest(http.MethodPost, PathPrefix+d.provider, bytes.NewReader(d.body))
	for k, v := range d.header.Clone() {
		req.Header[k] = v
	}
	req.RemoteAddr = "192.0.2.10:40000"
	return req
}

// response is a recorded answer.
type response struct {
	status int
	header http.Header
	answer answer
	raw    string
}

func (r *testReceiver) send(t testing.TB, d hook) response {
	t.Helper()
	return r.serve(t, d.request())
}

func (r *testReceiver) serve(t testing.TB, req *http.Request) response {
	t.Helper()
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, req)
	res := response{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &res.answer); err != nil {
		t.Errorf("answer %q is not JSON: %v", rec.Body.String(), err)
	}
	return res
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// githubTestdata is where the real GitHub payloads are kept, outside the
// project.
const githubTestdata = "../../../shared/testdata/webhooks/github/"

func readGitHubPayload(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(githubTestdata, name))
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("GitHub sample payloads not found in %s (they live outside the project checkout)", githubTestdata)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}
