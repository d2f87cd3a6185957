package webhook

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/config"
)

// pushOf is a valid push of each provider for the source "catalog" below.
func pushOf(t testing.TB, provider string) (eventName string, body []byte) {
	t.Helper()
	switch provider {
	case events.ProviderGitHub:
		return "push", []byte(`{"ref":"refs/heads/main","after":"` + strings.Repeat("ab", 20) + `",` +
			`"repository":{"full_name":"acme/catalog","html_url":"https://github.com/acme/catalog","default_branch":"main"},` +
			`"pusher":{"name":"octo"}}`)
	case events.ProviderGitLab:
		return "Push Hook", []byte(`{"object_kind":"push","ref":"refs/heads/main","after":"` + strings.Repeat("ab", 20) + `",` +
			`"project":{"path_with_namespace":"acme/catalog","web_url":"https://github.com/acme/catalog"}}`)
	case events.ProviderGitea:
		return "push", []byte(`{"ref":"refs/heads/main","after":"` + strings.Repeat("ab", 20) + `",` +
			`"repository":{"full_name":"acme/catalog","html_url":"https://github.com/acme/catalog"}}`)
	case events.ProviderBitbucket:
		return "repo:push", []byte(`{"repository":{"full_name":"acme/catalog","links":{"html":{"href":"https://github.com/acme/catalog"}}},` +
			`"push":{"changes":[{"new":{"type":"branch","name":"main","target":{"hash":"` + strings.Repeat("ab", 20) + `"}}}]}}`)
	case events.ProviderGeneric:
		return "", []byte(`{"source":"catalog"}`)
	}
	t.Fatalf("no push for %s", provider)
	return "", nil
}

var catalogSources = []config.Source{gitSource("catalog", "https://github.com/acme/catalog.git", "branch:main")}

// A valid push of every provider is accepted, so that the rejections below
// are rejections of what is changed and nothing else.
func TestValidPushAccepted(t *testing.T) {
	for _, provider := range providerNames {
		t.Run(provider, func(t *testing.T) {
			r := newTestReceiver(t, testHooks(t), catalogSources, Options{})
			ev, body := pushOf(t, provider)
			res := r.send(t, signed(provider, secretOf[provider], ev, "d-1", body))
			if res.status != http.StatusAccepted || len(r.pub.triggers()) != 1 {
				t.Fatalf("status %d, published %v: %s", res.status, r.pub.sources(), res.raw)
			}
		})
	}
}

// Nothing is published for a request that is not proven to come from the
// forge: missing, wrong, flipped and foreign signatures, for every provider.
func TestBadSignaturesPublishNothing(t *testing.T) {
	flip := func(v string) string {
		b := []byte(v)
		i := len(b) - 1
		if b[i] == '0' {
			b[i] = '1'
		} else {
			b[i] = '0'
		}
		return string(b)
	}
	tests := []struct {
		name   string
		change func(t *testing.T, provider string, d hook) hook
		reason string
	}{
		{"missing signature", func(t *testing.T, p string, d hook) hook {
			d.header.Del(signatureHeader[p])
			return d
		}, "missing signature"},
		{"one byte of the signature flipped", func(t *testing.T, p string, d hook) hook {
			d.header.Set(signatureHeader[p], flip(d.header.Get(signatureHeader[p])))
			return d
		}, "does not match"},
		{"one byte of the body changed", func(t *testing.T, p string, d hook) hook {
			if p == events.ProviderGitLab {
				d.header.Set("X-Gitlab-Token", flip(gitlabToken))
				return d
			}
			changed := bytes.Clone(bytes.TrimSuffix(d.body, []byte("}")))
			d.body = append(changed, ' ', '}')
			return d
		}, "does not match"},
		{"signed with another provider's secret", func(t *testing.T, p string, d hook) hook {
			other := events.ProviderGeneric
			if p == other {
				other = events.ProviderGitHub
			}
			ev, body := pushOf(t, p)
			return signed(p, secretOf[other], ev, "d-1", body)
		}, "does not match"},
		{"signature without its prefix", func(t *testing.T, p string, d hook) hook {
			v := d.header.Get(signatureHeader[p])
			_, hexsig, ok := strings.Cut(v, "=")
			if !ok {
				hexsig = v + "00"
			}
			d.header.Set(signatureHeader[p], hexsig)
			return d
		}, ""},
		{"empty secret", func(t *testing.T, p string, d hook) hook {
			ev, body := pushOf(t, p)
			return signed(p, "", ev, "d-1", body)
		}, ""},
	}
	for _, provider := range providerNames {
		for _, tt := range tests {
			t.Run(provider+"/"+tt.name, func(t *testing.T) {
				r := newTestReceiver(t, testHooks(t), catalogSources, Options{})
				ev, body := pushOf(t, provider)
				d := tt.change(t, provider, signed(provider, secretOf[provider], ev, "d-1", body))
				res := r.send(t, d)
				if res.status != http.StatusUnauthorized {
					t.Fatalf("status %d, want 401: %s", res.status, res.raw)
				}
				if tt.reason != "" && !strings.Contains(res.answer.Error, tt.reason) {
					t.Errorf("answer %q does not say %q", res.answer.Error, tt.reason)
				}
				for _, s := range secretOf {
					if strings.Contains(res.raw, s) {
						t.Errorf("the answer names a secret: %s", res.raw)
					}
				}
				if res.answer.Repository != "" || res.answer.Published != nil {
					t.Errorf("a rejected answer repeats the payload: %s", res.raw)
				}
				if got := r.pub.triggers(); len(got) != 0 {
					t.Errorf("published %v", r.pub.sources())
				}
			})
		}
	}
}

func TestGitHubSHA1OnlyRejected(t *testing.T) {
	r := newTestReceiver(t, testHooks(t), catalogSources, Options{})
	ev, body := pushOf(t, events.ProviderGitHub)
	d := signed(events.ProviderGitHub, githubSecret, ev, "d-1", body)
	d.header.Del("X-Hub-Signature-256")
	d.header.Set("X-Hub-Signature", "sha1=0123456789abcdef0123456789abcdef01234567")
	res := r.send(t, d)
	if res.status != http.StatusUnauthorized || !strings.Contains(res.answer.Error, "SHA-256") {
		t.Fatalf("status %d: %s", res.status, res.raw)
	}
	if len(r.pub.triggers()) != 0 {
		t.Error("published")
	}
}

func TestWrongGitLabToken(t *testing.T) {
	r := newTestReceiver(t, testHooks(t), catalogSources, Options{})
	ev, body := pushOf(t, events.ProviderGitLab)
	for _, token := range []string{"wrong", gitlabToken + "x", gitlabToken[:len(gitlabToken)-1], strings.ToUpper(gitlabToken)} {
		res := r.send(t, signed(events.ProviderGitLab, token, ev, "d-1", body))
		if res.status != http.StatusUnauthorized {
			t.Errorf("token %q: status %d", token, res.status)
		}
	}
	if len(r.pub.triggers()) != 0 {
		t.Error("published")
	}
}

// A provider without a secret is disabled: 404 before anything is read,
// never open.
func TestDisabledProvider(t *testing.T) {
	hooks := testHooks(t)
	hooks.GitLab = config.WebhookToken{}
	r := newTestReceiver(t, hooks, catalogSources, Options{})
	for _, key := range []string{gitlabToken, ""} {
		ev, body := pushOf(t, events.ProviderGitLab)
		d := signed(events.ProviderGitLab, key, ev, "d-1", body)
		if key == "" {
			d.header.Del("X-Gitlab-Token")
		}
		res := r.send(t, d)
		if res.status != http.StatusNotFound || !strings.Contains(res.answer.Error, "gitlab is not configured") {
			t.Errorf("status %d: %s", res.status, res.raw)
		}
	}
	if len(r.pub.triggers()) != 0 {
		t.Error("published")
	}
	if got := strings.Join(r.Enabled(), ","); got != "github,gitea,bitbucket,generic" {
		t.Errorf("Enabled() = %s", got)
	}
}

// A configured secret that cannot be read is an error in the log and keeps
// its receiver disabled, even when source secrets exist.
func TestUnreadableSecret(t *testing.T) {
	dir := t.TempDir()
	hooks := testHooks(t)
	hooks.GitHub = config.WebhookSecret{SecretFile: dir + "/missing"}
	hooks.Bitbucket = config.WebhookSecret{SecretEnv: "REGSYNC_TEST_UNSET_VARIABLE"}
	hooks.Generic = config.WebhookSecret{SecretFile: writeSecret(t, dir, "empty", "\n")}
	srcs := []config.Source{gitSource("catalog", "https://github.com/acme/catalog.git", "branch:main")}
	srcs[0].Git.WebhookSecretFile = writeSecret(t, dir, "source", sourceSecretValue)
	r := newTestReceiver(t, hooks, srcs, Options{})
	if got := strings.Join(r.Enabled(), ","); got != "gitlab,gitea" {
		t.Errorf("Enabled() = %s", got)
	}
	for _, provider := range []string{events.ProviderGitHub, events.ProviderBitbucket, events.ProviderGeneric} {
		ev, body := pushOf(t, provider)
		res := r.send(t, signed(provider, sourceSecretValue, ev, "d-1", body))
		if res.status != http.StatusNotFound {
			t.Errorf("%s: status %d: %s", provider, res.status, res.raw)
		}
	}
	logs := r.logs.String()
	for _, want := range []string{dir + "/missing", "REGSYNC_TEST_UNSET_VARIABLE", "the secret is empty"} {
		if !strings.Contains(logs, want) || !strings.Contains(logs, `"level":"ERROR"`) {
			t.Errorf("no error naming %q in the log:\n%s", want, logs)
		}
	}
	if len(r.pub.triggers()) != 0 {
		t.Error("published")
	}
}

func TestBodyLimit(t *testing.T) {
	const limit = 1024
	ev, body := pushOf(t, events.ProviderGitHub)
	big := append(bytes.Repeat([]byte(" "), limit), body...)
	t.Run("by Content-Length", func(t *testing.T) {
		r := newTestReceiver(t, testHooks(t), catalogSources, Options{MaxBody: limit})
		res := r.send(t, signed(events.ProviderGitHub, githubSecret, ev, "d-1", big))
		if res.status != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d: %s", res.status, res.raw)
		}
		if len(r.pub.triggers()) != 0 {
			t.Error("published")
		}
	})
	t.Run("streamed without Content-Length", func(t *testing.T) {
		r := newTestReceiver(t, testHooks(t), catalogSources, Options{MaxBody: limit})
		req := signed(events.ProviderGitHub, githubSecret, ev, "d-1", big).request()
		req.ContentLength = -1
		req.Body = io.NopCloser(io.MultiReader(bytes.NewReader(big), neverEnding{}))
		res := r.serve(t, req)
		if res.status != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d: %s", res.status, res.raw)
		}
		if len(r.pub.triggers()) != 0 {
			t.Error("published")
		}
	})
	t.Run("at the limit", func(t *testing.T) {
		r := newTestReceiver(t, testHooks(t), catalogSources, Options{MaxBody: int64(len(body))})
		res := r.send(t, signed(events.ProviderGitHub, githubSecret, ev, "d-1", body))
		if res.status != http.StatusAccepted {
			t.Fatalf("status %d: %s", res.status, res.raw)
		}
	})
	t.Run("default limit", func(t *testing.T) {
		r := newTestReceiver(t, testHooks(t), catalogSources, Options{})
		huge := append(bytes.Repeat([]byte(" "), int(config.Default().Webhooks.MaxBodySize)), body...)
		res := r.send(t, signed(events.ProviderGitHub, githubSecret, ev, "d-1", huge))
		if res.status != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d", res.status)
		}
	})
}

// neverEnding is a body that never ends.
type neverEnding struct{}

func (neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

// A body that is signed but cannot be read as the event it claims to be
// is answered 400, for every provider.
func TestMalformedAfterVerification(t *testing.T) {
	bodies := map[string][]string{
		events.ProviderGitHub: {`{"ref":`, `[]`, `{"ref":"refs/heads/main","after":"xyz","repository":{}}`,
			`{"ref":"main","after":"` + strings.Repeat("a", 40) + `","repository":{}}`, `{"ref":"refs/heads/main","after":"` + strings.Repeat("a", 40) + `"}`},
		events.ProviderGitLab:    {`not json`, `{"ref":"refs/heads/main","after":"` + strings.Repeat("a", 40) + `"}`, `{"project":{},"ref":5}`},
		events.ProviderGitea:     {`{`, `{"ref":"refs/heads/main","after":"` + strings.Repeat("a", 40) + `"}`},
		events.ProviderBitbucket: {`{"push":{"changes":[{}]},"repository":{}}`, `"x"`, `{"repository":{},"push":{"changes":[{"new":{"type":"branch","name":"","target":{}}}]}}`},
		events.ProviderGeneric:   {`{}`, `{"source":"Not A Name"}`, `{"source":"catalog","revision":"a\nb"}`, `{"source":7}`, `{"source":"catalog"`},
	}
	for _, provider := range providerNames {
		for _, body := range bodies[provider] {
			t.Run(provider+"/"+body, func(t *testing.T) {
				r := newTestReceiver(t, testHooks(t), catalogSources, Options{})
				ev, _ := pushOf(t, provider)
				res := r.send(t, signed(provider, secretOf[provider], ev, "d-1", []byte(body)))
				if res.status != http.StatusBadRequest {
					t.Fatalf("status %d, want 400: %s", res.status, res.raw)
				}
				if len(r.pub.triggers()) != 0 {
					t.Error("published")
				}
			})
		}
	}
}

func TestMethodAndPath(t *testing.T) {
	r := newTestReceiver(t, testHooks(t), catalogSources, Options{})
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodHead, http.MethodDelete} {
		res := r.serve(t, httptest.NewRequest(method, "/webhooks/github", nil))
		if res.status != http.StatusMethodNotAllowed || res.header.Get("Allow") != http.MethodPost {
			t.Errorf("%s: status %d, Allow %q", method, res.status, res.header.Get("Allow"))
		}
	}
	for _, path := range []string{"/webhooks/gitee", "/webhooks/", "/webhooks/github/extra", "/webhooks/GitHub", "/other/github"} {
		ev, body := pushOf(t, events.ProviderGitHub)
		req := signed(events.ProviderGitHub, githubSecret, ev, "d-1", body).request()
		req.URL.Path = path
		res := r.serve(t, req)
		if res.status != http.StatusNotFound || !strings.Contains(res.answer.Error, "unknown webhook provider") {
			t.Errorf("%s: status %d: %s", path, res.status, res.raw)
		}
	}
	if len(r.pub.triggers()) != 0 {
		t.Error("published")
	}
}

// Verified deliveries that concern no source are answered 200 with the
// repository and ref that were seen.
func TestUnmatched(t *testing.T) {
	const sha = "0123456789abcdef0123456789abcdef01234567"
	srcs := []config.Source{
		gitSource("branch-main", "https://github.com/acme/catalog.git", "branch:main"),
		gitSource("pinned", "https://github.com/acme/pinned.git", "commit:"+sha),
		gitSource("tagged", "https://github.com/acme/tagged.git", "tag:v1.0.0"),
	}
	push := func(repo, ref string) []byte {
		b, _ := json.Marshal(map[string]any{
			"ref": ref, "after": sha,
			"repository": map[string]any{"full_name": repo, "html_url": "https://github.com/" + repo},
		})
		return b
	}
	tests := []struct {
		name, repo, ref string
		says            []string
	}{
		{"unknown repository", "acme/unknown", "refs/heads/main", []string{"acme/unknown", "no git source"}},
		{"other branch", "acme/catalog", "refs/heads/dev", []string{"acme/catalog", "refs/heads/dev"}},
		{"tag push to a branch source", "acme/catalog", "refs/tags/main", []string{"refs/tags/main"}},
		{"branch push to a tag source", "acme/tagged", "refs/heads/v1.0.0", []string{"refs/heads/v1.0.0"}},
		{"other tag", "acme/tagged", "refs/tags/v1.0.1", []string{"refs/tags/v1.0.1"}},
		{"commit-pinned source", "acme/pinned", "refs/heads/main", []string{"pinned to a commit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestReceiver(t, testHooks(t), srcs, Options{})
			res := r.send(t, signed(events.ProviderGitHub, githubSecret, "push", "d-1", push(tt.repo, tt.ref)))
			if res.status != http.StatusOK {
				t.Fatalf("status %d: %s", res.status, res.raw)
			}
			for _, s := range tt.says {
				if !strings.Contains(res.answer.Ignored, s) {
					t.Errorf("answer %q does not say %q", res.answer.Ignored, s)
				}
			}
			if len(r.pub.triggers()) != 0 {
				t.Errorf("published %v", r.pub.sources())
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	r := newTestReceiver(t, testHooks(t), catalogSources, Options{RatePerSecond: 0.001, Burst: 3})
	ev, body := pushOf(t, events.ProviderGitHub)
	send := func(remote, forwarded string) response {
		req := signed(events.ProviderGitHub, githubSecret, ev, "d-1", body).request()
		req.RemoteAddr = remote
		if forwarded != "" {
			req.Header.Set("X-Forwarded-For", forwarded)
		}
		return r.serve(t, req)
	}
	for i := range 3 {
		if res := send("198.51.100.7:1000", ""); res.status != http.StatusAccepted {
			t.Fatalf("request %d: status %d", i, res.status)
		}
	}
	res := send("198.51.100.7:2000", "203.0.113.9")
	if res.status != http.StatusTooManyRequests || res.header.Get("Retry-After") == "" {
		t.Fatalf("over the burst: status %d, Retry-After %q", res.status, res.header.Get("Retry-After"))
	}
	if res := send("198.51.100.8:1000", ""); res.status != http.StatusAccepted {
		t.Errorf("another client: status %d", res.status)
	}
	// IPv6 clients are counted by /64.
	for i := range 3 {
		send("[2001:db8:1:2::"+string(rune('a'+i))+"]:1000", "")
	}
	if res := send("[2001:db8:1:2::ff]:1000", ""); res.status != http.StatusTooManyRequests {
		t.Errorf("same /64: status %d", res.status)
	}
	if res := send("[2001:db8:1:3::1]:1000", ""); res.status != http.StatusAccepted {
		t.Errorf("another /64: status %d", res.status)
	}
}

func TestLimiterRefills(t *testing.T) {
	l := newLimiter(2, 2)
	now := l.now()
	l.now = func() time.Time { return now }
	for range 2 {
		if ok, _ := l.allow("a"); !ok {
			t.Fatal("refused within the burst")
		}
	}
	ok, wait := l.allow("a")
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("allow = %v, %v; want false, 500ms", ok, wait)
	}
	now = now.Add(wait)
	if ok, _ := l.allow("a"); !ok {
		t.Error("refused after the wait")
	}
	// An idle client is forgotten once its bucket is full again.
	now = now.Add(sweepEvery)
	l.allow("b")
	if _, ok := l.clients["a"]; ok {
		t.Error("idle client kept")
	}
}

func TestClientKey(t *testing.T) {
	tests := map[string]string{
		"192.0.2.1:1234":            "192.0.2.1",
		"[::ffff:192.0.2.1]:1234":   "192.0.2.1",
		"[2001:db8::1]:80":          "2001:db8::/64",
		"[fe80::1%eth0]:80":         "fe80::/64",
		"192.0.2.1":                 "192.0.2.1",
		"@":                         "@",
		"[2001:db8:a:b:c:d:e:f]:99": "2001:db8:a:b::/64",
	}
	for in, want := range tests {
		if got := clientKey(in); got != want {
			t.Errorf("clientKey(%q) = %q, want %q", in, got, want)
		}
	}
}
