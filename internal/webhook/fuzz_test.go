package webhook

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/config"
)

// fuzzKey is the secret FuzzVerify checks signatures against.
const fuzzKey = "fuzz-secret"

// validProofs returns every header value that proves fuzzKey for body:
// what an honest forge would send.
func validProofs(provider string, body []byte, form bool) []string {
	switch provider {
	case events.ProviderGitLab:
		return []string{fuzzKey}
	case events.ProviderGitea:
		out := []string{hmacHex(fuzzKey, body)}
		if form {
			if inner, err := formPayload(body); err == nil {
				out = append(out, hmacHex(fuzzKey, inner))
			}
		}
		return out
	}
	return []string{"sha256=" + hmacHex(fuzzKey, body)}
}

// FuzzVerify feeds arbitrary signature headers and bodies to every
// provider's verification: it never panics, and it accepts a request only
// when the header carries the right signature of that body (hex digits in
// either case).
func FuzzVerify(f *testing.F) {
	body := []byte(`{"ref":"refs/heads/main"}`)
	formBody := []byte("payload=" + url.QueryEscape(string(body)))
	for i, p := range providerNames {
		for _, v := range validProofs(p, body, false) {
			f.Add(uint8(i), v, "", body, false)
			f.Add(uint8(i), strings.ToUpper(v), "", body, false)
			f.Add(uint8(i), v+"0", "", body, false)
			f.Add(uint8(i), v[1:], "", body, false)
		}
		for _, v := range validProofs(p, formBody, true) {
			f.Add(uint8(i), v, "", formBody, true)
		}
		f.Add(uint8(i), "", "sha1=0000", body, false)
		f.Add(uint8(i), "sha256=", "", []byte{}, false)
		f.Add(uint8(i), "sha512="+strings.Repeat("0", 128), "", body, false)
	}
	f.Fuzz(func(t *testing.T, pi uint8, value, second string, body []byte, form bool) {
		provider := providerNames[int(pi)%len(providerNames)]
		p := providers[provider]
		h := http.Header{}
		h.Set(signatureHeader[provider], value)
		// A second header a forge might also send.
		switch provider {
		case events.ProviderGitHub:
			h.Set("X-Hub-Signature", second)
		case events.ProviderGitea:
			h.Set("X-Gogs-Signature", second)
		default:
			h.Set("X-Other-Signature", second)
		}
		contentType := "application/json"
		if form {
			contentType = "application/x-www-form-urlencoded"
		}
		pr, err := p.proof(h, contentType, body)
		if err != nil {
			return
		}
		if !pr(secret(fuzzKey)) {
			return
		}
		// Accepted: the header must hold a right signature. For Gitea the
		// second header counts only when the first is empty.
		sent := []string{h.Get(signatureHeader[provider])}
		if provider == events.ProviderGitea && sent[0] == "" {
			sent = []string{h.Get("X-Gogs-Signature")}
		}
		for _, want := range validProofs(provider, body, form) {
			for _, got := range sent {
				if proves(provider, got, want) {
					return
				}
			}
		}
		t.Fatalf("%s accepted %q (second %q) for body %q", provider, value, second, body)
	})
}

// proves reports whether the header value got is the valid proof want, up
// to the letter case of hex digits.
func proves(provider, got, want string) bool {
	if provider == events.ProviderGitLab {
		return got == want
	}
	prefix := want[:len(want)-64]
	rest, ok := strings.CutPrefix(got, prefix)
	return ok && strings.EqualFold(rest, want[len(prefix):])
}

// parsedEvents are the events each provider reads a body for.
var parsedEvents = map[string][]string{
	events.ProviderGitHub:    {"push", "ping"},
	events.ProviderGitLab:    {"Push Hook", "Tag Push Hook"},
	events.ProviderGitea:     {"push", "delete"},
	events.ProviderBitbucket: {"repo:push", "repo:refs_changed", "diagnostics:ping"},
	events.ProviderGeneric:   {""},
}

// FuzzParsePush feeds arbitrary bytes to every provider's payload parser
// and matches the result against a few sources: nothing panics, and what
// is accepted is well formed.
func FuzzParsePush(f *testing.F) {
	for _, name := range []string{
		"gitlab-push.json", "gitlab-tag-push.json", "gitea-push.json", "gitea-delete.json",
		"forgejo-push.json", "gogs-push.json", "bitbucket-cloud-push.json",
		"bitbucket-dc-refs-changed.json", "bitbucket-dc-refs-changed-nolinks.json", "bitbucket-dc-ping.json",
	} {
		f.Add(readTestdata(f, name), false)
	}
	f.Add([]byte(`{"ref":"refs/heads/main","after":"`+strings.Repeat("a", 40)+`","repository":{"full_name":"a/b"}}`), false)
	f.Add([]byte(`{"source":"a","revision":"x"}`), false)
	f.Add([]byte("payload=%7B%7D"), true)
	st := newState([]config.Source{
		gitSource("main", "https://github.com/a/b", "branch:main"),
		gitSource("default", "git@gitlab.example.com:platform/mcp-catalog.git", ""),
		gitSource("tag", "https://bitbucket.example.com/scm/plat/mcp-servers.git", "tag:v3.0.0"),
		fileSource("file", "/srv/registry.json"),
	}, config.Webhooks{}, slog.New(slog.DiscardHandler))
	f.Fuzz(func(t *testing.T, body []byte, form bool) {
		for _, provider := range providerNames {
			p := providers[provider]
			contentType := "application/json"
			if form {
				contentType = "application/x-www-form-urlencoded"
			}
			for _, ev := range parsedEvents[provider] {
				pl, err := p.parse(ev, contentType, body)
				if err != nil {
					continue
				}
				for _, c := range pl.changes {
					if !strings.HasPrefix(c.ref, "refs/") {
						t.Fatalf("%s %s: ref %q", provider, ev, c.ref)
					}
					if c.revision != "" {
						if got, ok := commitSHA(c.revision); !ok || got != c.revision || c.deleted {
							t.Fatalf("%s %s: revision %q deleted %v", provider, ev, c.revision, c.deleted)
						}
					}
				}
				if provider == events.ProviderGeneric && !events.ValidSourceName(pl.source) {
					t.Fatalf("generic source %q", pl.source)
				}
				targets, _, _ := st.match(pl, scope{all: true})
				for _, tg := range targets {
					if _, err := events.New(eventID(provider, "d", tg.source), events.ProducerSource(testDeployment, events.ProducerWebhook(provider)), &events.SourceChanged{
						Source: tg.source, Trigger: events.TriggerWebhook, Revision: tg.change.revision,
						Provider: &events.Provider{Name: provider, Ref: tg.change.ref, Pusher: clip(pl.pusher), Repository: clip(pl.repository)},
					}); err != nil {
						t.Fatalf("%s %s: trigger: %v", provider, ev, err)
					}
				}
			}
		}
	})
}
