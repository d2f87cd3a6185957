package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/sources/gittest"
	"github.com/regsync/regsync/internal/testsupport"
)

// forgeCase is one receiver driven end to end: the project's own sample
// payload of that forge, pointed at a loopback repository.
type forgeCase struct {
	source   string
	provider string
	fixture  string            // under internal/webhook/testdata, "" for generic
	repo     string            // repository path the payload names
	host     string            // forge host the payload names
	sha      string            // the pushed commit the payload names
	replace  map[string]string // further rewrites, e.g. the branch
	headers  func(body []byte, delivery string) http.Header
}

var forgeCases = []forgeCase{
	{source: "gl", provider: "gitlab", fixture: "gitlab-push.json", repo: "platform/mcp-catalog", host: "gitlab.example.com",
		sha: "3e7a1f9c5b2d8e4a6f0c3b7d1e9a5f2c8b4d6e01",
		headers: func(_ []byte, d string) http.Header {
			return http.Header{"X-Gitlab-Token": {webhookSecret}, "X-Gitlab-Event": {"Push Hook"}, "X-Gitlab-Event-Uuid": {d}}
		}},
	{source: "gt", provider: "gitea", fixture: "gitea-push.json", repo: "tools/registry", host: "gitea.example.com",
		sha: "a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0",
		headers: func(b []byte, d string) http.Header {
			return http.Header{"X-Gitea-Signature": {hmacHex(webhookSecret, b)}, "X-Gitea-Event": {"push"}, "X-Gitea-Delivery": {d}}
		}},
	{source: "fj", provider: "gitea", fixture: "forgejo-push.json", repo: "mcp-community/catalog", host: "codeberg.org",
		sha: "5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e", replace: map[string]string{"refs/heads/stable": "refs/heads/main"},
		headers: func(b []byte, d string) http.Header {
			return http.Header{"X-Forgejo-Signature": {hmacHex(webhookSecret, b)}, "X-Forgejo-Event": {"push"}, "X-Forgejo-Delivery": {d}}
		}},
	{source: "bbc", provider: "bitbucket", fixture: "bitbucket-cloud-push.json", repo: "acme-ai/mcp-registry", host: "bitbucket.org",
		sha: "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d",
		headers: func(b []byte, d string) http.Header {
			return http.Header{"X-Hub-Signature": {"sha256=" + hmacHex(webhookSecret, b)}, "X-Event-Key": {"repo:push"}, "X-Request-Uuid": {d}}
		}},
	{source: "bbdc", provider: "bitbucket", fixture: "bitbucket-dc-refs-changed.json", repo: "scm/plat/mcp-servers", host: "bitbucket.example.com",
		sha:     "1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a6f7e8d9c0b",
		replace: map[string]string{"refs/heads/develop": "refs/heads/main", `"displayId": "develop"`: `"displayId": "main"`},
		headers: func(b []byte, d string) http.Header {
			return http.Header{"X-Hub-Signature": {"sha256=" + hmacHex(webhookSecret, b)}, "X-Event-Key": {"repo:refs_changed"}, "X-Request-Id": {d}}
		}},
	{source: "gen", provider: "generic", repo: "generic/registry",
		headers: func(b []byte, d string) http.Header {
			return http.Header{"X-Signature": {"sha256=" + hmacHex(webhookSecret, b)}, "X-Delivery-Id": {d}}
		}},
}

// TestEveryReceiverEndToEnd pushes a commit with git to a loopback
// repository for each forge and posts that forge's signed push for it.
func TestEveryReceiverEndToEnd(t *testing.T) {
	server := gittest.NewServer(t)
	host := strings.TrimPrefix(server.URL, "http://")
	repos := map[string]*gittest.Repo{}
	var sourcesYAML strings.Builder
	for _, fc := range forgeCases {
		repo := server.NewRepo(t, fc.repo)
		repo.Push(map[string]string{"registry.json": testRegistry})
		repos[fc.source] = repo
		fmt.Fprintf(&sourcesYAML, "  - name: %s\n    git: {repository: %s, branch: main, pollInterval: 1h}\n    syncPolicy: {interval: 1h}\n", fc.source, repo.URL)
	}
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(webhookSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	sourcesYAML.WriteString(fmt.Sprintf(`webhooks:
  github: {secretFile: %[1]s}
  gitlab: {tokenFile: %[1]s}
  gitea: {secretFile: %[1]s}
  bitbucket: {secretFile: %[1]s}
  generic: {secretFile: %[1]s}
`, secretFile))
	svc := serveSources(t, forgeCases[0].source, sourcesYAML.String())
	for _, fc := range forgeCases {
		awaitFirstLook(t, svc, fc.source)
	}
	res := followResults(t, svc)

	for i, fc := range forgeCases {
		t.Run(fc.source+" via "+fc.provider, func(t *testing.T) {
			commit := repos[fc.source].Push(map[string]string{"registry.json": registryWith(fmt.Sprintf("Alpha, pushed for %s", fc.source))})
			var body []byte
			if fc.fixture == "" {
				body = []byte(fmt.Sprintf(`{"source": %q, "revision": %q}`, fc.source, commit))
			} else {
				raw, err := os.ReadFile(filepath.Join("..", "..", "internal", "webhook", "testdata", fc.fixture))
				if err != nil {
					t.Fatal(err)
				}
				s := strings.ReplaceAll(string(raw), fc.host, host)
				s = strings.ReplaceAll(s, fc.sha, commit)
				for from, to := range fc.replace {
					s = strings.ReplaceAll(s, from, to)
				}
				body = []byte(s)
			}
			delivery := fmt.Sprintf("e2e-%d", i)

			// A wrong secret never publishes.
			bad := bytes.Clone(body)
			status, _ := postHook(t, svc.httpAddr, fc.provider, bad, withWrongSecret(fc.headers(bad, delivery+"-bad")))
			if status != http.StatusUnauthorized {
				t.Errorf("wrong secret: status %d, want 401", status)
			}
			res.noCompleted(300 * time.Millisecond)

			start := time.Now()
			status, answer := postHook(t, svc.httpAddr, fc.provider, body, fc.headers(body, delivery))
			if status != http.StatusAccepted {
				t.Fatalf("status %d: %s", status, answer)
			}
			for {
				d := res.next(testsupport.Patience)
				if d == nil {
					t.Fatal("no result")
				}
				if c, ok := d.(events.SyncCompleted); ok {
					if c.Source != fc.source || c.Revision != commit {
						t.Errorf("completed %s at %s, want %s at %s", c.Source, c.Revision, fc.source, commit)
					}
					break
				}
			}
			t.Logf("%s: webhook to completed result in %v", fc.provider, time.Since(start).Round(time.Millisecond))
		})
	}
}

// withWrongSecret spoils every signature or token in h.
func withWrongSecret(h http.Header) http.Header {
	for _, k := range []string{"X-Hub-Signature-256", "X-Hub-Signature", "X-Gitea-Signature", "X-Forgejo-Signature", "X-Signature"} {
		if v := h.Get(k); v != "" {
			h.Set(k, v[:len(v)-1]+string("0123456789abcdef"[(strings.IndexByte("0123456789abcdef", v[len(v)-1])+1)%16]))
		}
	}
	if h.Get("X-Gitlab-Token") != "" {
		h.Set("X-Gitlab-Token", "wrong-token")
	}
	return h
}

func postHook(t *testing.T, addr, provider string, body []byte, h http.Header) (int, string) {
	t.Helper()
	u := url.URL{Scheme: "http", Host: addr, Path: "/webhooks/" + provider}
	req, err := http.NewRequest(http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}
