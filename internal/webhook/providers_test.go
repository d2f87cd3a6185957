package webhook

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/config"
)

// want is one expected trigger.
type want struct {
	revision, ref, pusher, repository string
}

// Every provider's payloads, signed and delivered to a receiver with
// sources on those repositories, publish the triggers of exactly the
// sources they concern.
func TestProviderPayloads(t *testing.T) {
	const (
		glMain   = "3e7a1f9c5b2d8e4a6f0c3b7d1e9a5f2c8b4d6e01"
		giteaRev = "a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0"
		bbRev    = "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d"
		dcRev    = "1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a6f7e8d9c0b"
	)
	srcs := []config.Source{
		gitSource("gl-main", "git@gitlab.example.com:platform/mcp-catalog.git", "branch:main"),
		gitSource("gl-release", "https://gitlab.example.com/platform/mcp-catalog", "tag:v1.4.0"),
		gitSource("gl-dev", "https://gitlab.example.com/platform/mcp-catalog.git", "branch:dev"),
		gitSource("gitea-default", "https://gitea.example.com/tools/registry.git", ""),
		gitSource("gitea-release", "ssh://git@gitea.example.com:2222/tools/registry.git", "branch:release-2026-q1"),
		gitSource("forgejo-stable", "https://codeberg.org/mcp-community/catalog", "branch:stable"),
		gitSource("gogs-default", "ssh://git@gogs.example.com:10022/ops/registry.git", ""),
		gitSource("bb-main", "git@bitbucket.org:acme-ai/mcp-registry.git", "branch:main"),
		gitSource("bb-tag", "https://user@bitbucket.org/acme-ai/mcp-registry.git", "tag:catalog-2026.03"),
		gitSource("dc-develop", "https://bitbucket.example.com/scm/plat/mcp-servers.git", "branch:develop"),
		gitSource("dc-old", "ssh://git@bitbucket.example.com:7999/plat/mcp-servers.git", "branch:feature/old-importer"),
		gitSource("dc-main", "https://bitbucket.example.com/scm/plat/mcp-servers.git", "branch:main"),
		gitSource("dc-tag", "ssh://git@bitbucket.example.com:7999/plat/mcp-servers.git", "tag:v3.0.0"),
		fileSource("local-file", "/srv/registry.json"),
	}
	tests := []struct {
		name     string
		provider string
		event    string
		file     string
		body     []byte            // instead of file
		header   map[string]string // replaces the provider's usual headers
		status   int
		want     map[string]want
	}{
		{name: "gitlab push", provider: "gitlab", event: "Push Hook", file: "gitlab-push.json", status: 202,
			want: map[string]want{"gl-main": {glMain, "refs/heads/main", "ada", "platform/mcp-catalog"}}},
		// The tag object is in "after"; the commit a sync reports is checkout_sha.
		{name: "gitlab tag push", provider: "gitlab", event: "Tag Push Hook", file: "gitlab-tag-push.json", status: 202,
			want: map[string]want{"gl-release": {glMain, "refs/tags/v1.4.0", "ada", "platform/mcp-catalog"}}},
		{name: "gitlab other event", provider: "gitlab", event: "Issue Hook", file: "gitlab-push.json", status: 200},
		{name: "gitea push", provider: "gitea", event: "push", file: "gitea-push.json", status: 202,
			want: map[string]want{"gitea-default": {giteaRev, "refs/heads/main", "grace", "tools/registry"}}},
		{name: "gitea branch deleted", provider: "gitea", event: "delete", file: "gitea-delete.json", status: 202,
			want: map[string]want{"gitea-release": {"", "refs/heads/release-2026-q1", "grace", "tools/registry"}}},
		{name: "forgejo push", provider: "gitea", file: "forgejo-push.json", status: 202,
			header: map[string]string{"X-Forgejo-Event": "push", "X-Forgejo-Delivery": "d-1", "X-Forgejo-Signature": "sign"},
			want:   map[string]want{"forgejo-stable": {"5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e", "refs/heads/stable", "lpauling", "mcp-community/catalog"}}},
		{name: "gogs push", provider: "gitea", file: "gogs-push.json", status: 202,
			header: map[string]string{"X-Gogs-Event": "push", "X-Gogs-Delivery": "d-1", "X-Gogs-Signature": "sign"},
			want:   map[string]want{"gogs-default": {"fedcba0987654321fedcba0987654321fedcba09", "refs/heads/master", "ken", "ops/registry"}}},
		{name: "bitbucket cloud push", provider: "bitbucket", event: "repo:push", file: "bitbucket-cloud-push.json", status: 202,
			want: map[string]want{
				"bb-main": {bbRev, "refs/heads/main", "bliskov", "acme-ai/mcp-registry"},
				"bb-tag":  {bbRev, "refs/tags/catalog-2026.03", "bliskov", "acme-ai/mcp-registry"},
			}},
		{name: "bitbucket data center push", provider: "bitbucket", event: "repo:refs_changed", file: "bitbucket-dc-refs-changed.json", status: 202,
			want: map[string]want{
				"dc-develop": {dcRev, "refs/heads/develop", "jdoe", "PLAT/mcp-servers"},
				"dc-old":     {"", "refs/heads/feature/old-importer", "jdoe", "PLAT/mcp-servers"},
			}},
		{name: "bitbucket data center push without links", provider: "bitbucket", event: "repo:refs_changed", file: "bitbucket-dc-refs-changed-nolinks.json", status: 202,
			want: map[string]want{"dc-tag": {"2d3c4b5a6f7e8d9c0b1a2f3e4d5c6b7a8f9e0d1c", "refs/tags/v3.0.0", "jdoe", "PLAT/mcp-servers"}}},
		{name: "bitbucket data center ping", provider: "bitbucket", event: "diagnostics:ping", file: "bitbucket-dc-ping.json", status: 200},
		{name: "bitbucket other event", provider: "bitbucket", event: "pullrequest:created", file: "bitbucket-cloud-push.json", status: 200},
		{name: "generic", provider: "generic", body: []byte(`{"source":"local-file","revision":"d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592"}`), status: 202,
			want: map[string]want{"local-file": {revision: "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592"}}},
		{name: "generic git source without revision", provider: "generic", body: []byte(`{"source":"gl-dev"}`), status: 202,
			want: map[string]want{"gl-dev": {}}},
		{name: "generic unknown source", provider: "generic", body: []byte(`{"source":"nope"}`), status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestReceiver(t, testHooks(t), srcs, Options{})
			body := tt.body
			if tt.file != "" {
				body = readTestdata(t, tt.file)
			}
			d := signed(tt.provider, secretOf[tt.provider], tt.event, "delivery-1", body)
			if tt.header != nil {
				d.header = http.Header{"Content-Type": {"application/json"}}
				for k, v := range tt.header {
					if v == "sign" {
						v = hmacHex(secretOf[tt.provider], body)
					}
					d.header.Set(k, v)
				}
			}
			res := r.send(t, d)
			if res.status != tt.status {
				t.Fatalf("status %d, want %d: %s", res.status, tt.status, res.raw)
			}
			got := make(map[string]want)
			for _, tr := range r.pub.triggers() {
				p := tr.data.Provider
				got[tr.data.Source] = want{tr.data.Revision, p.Ref, p.Pusher, p.Repository}
				if p.Name != tt.provider {
					t.Errorf("provider name %q", p.Name)
				}
				deliveryID := first(d.header.Get("X-Forgejo-Delivery"), d.header.Get("X-Gogs-Delivery"), "delivery-1")
				if p.DeliveryID != deliveryID || tr.id != "wh-"+tt.provider+"-"+safeID(deliveryID)+"-"+tr.data.Source {
					t.Errorf("delivery %q, event id %q", p.DeliveryID, tr.id)
				}
			}
			if !maps.Equal(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
				t.Errorf("published %+v\nwant      %+v", got, tt.want)
			}
			if res.status == http.StatusOK && res.answer.Ignored == "" {
				t.Errorf("a 200 answer says nothing about why: %s", res.raw)
			}
			if res.status == http.StatusAccepted {
				names := slices.Sorted(maps.Keys(tt.want))
				if !slices.Equal(slices.Sorted(slices.Values(res.answer.Published)), names) {
					t.Errorf("answer published %v, want %v", res.answer.Published, names)
				}
			}
		})
	}
}

// Gitea and Gogs sign the JSON inside a form-encoded body.
func TestGiteaFormBody(t *testing.T) {
	srcs := []config.Source{gitSource("gitea-default", "https://gitea.example.com/tools/registry", "")}
	r := newTestReceiver(t, testHooks(t), srcs, Options{})
	inner := readTestdata(t, "gitea-push.json")
	body := []byte("payload=" + url.QueryEscape(string(inner)))
	d := signed(events.ProviderGitea, giteaSecret, "push", "f6266f16-1bf3-46a5-9ea4-602e06ead473", inner)
	d.body = body
	d.header.Set("Content-Type", "application/x-www-form-urlencoded")
	if res := r.send(t, d); res.status != http.StatusAccepted {
		t.Fatalf("status %d: %s", res.status, res.raw)
	}
	if got := r.pub.sources(); !slices.Equal(got, []string{"gitea-default"}) {
		t.Errorf("published %v", got)
	}
}

// GitLab's delivery id: Idempotency-Key, which GitLab keeps when it
// retries, before the older headers.
func TestGitLabDeliveryID(t *testing.T) {
	tests := []struct {
		header map[string]string
		want   string
	}{
		{map[string]string{"Idempotency-Key": "idem-1", "X-Gitlab-Event-UUID": "ev-1", "X-Gitlab-Webhook-UUID": "wh-1"}, "idem-1"},
		{map[string]string{"X-Gitlab-Event-UUID": "ev-1", "X-Gitlab-Webhook-UUID": "wh-1"}, "ev-1"},
		{map[string]string{"X-Gitlab-Webhook-UUID": "wh-1"}, "wh-1"},
	}
	for _, tt := range tests {
		h := http.Header{}
		for k, v := range tt.header {
			h.Set(k, v)
		}
		if got := providers[events.ProviderGitLab].delivery(h); got != tt.want {
			t.Errorf("%v: delivery %q, want %q", tt.header, got, tt.want)
		}
	}
}
