package webhook

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/config"
)

// The real GitHub payloads: what each one holds.
func TestParseGitHubSamples(t *testing.T) {
	helloURLs := []string{
		"https://github.com/Codertocat/Hello-World",
		"https://github.com/Codertocat/Hello-World.git",
		"git://github.com/Codertocat/Hello-World.git",
		"git@github.com:Codertocat/Hello-World.git",
	}
	tests := []struct {
		file, event string
		kind        kind
		repository  string
		urls        []string
		defBranch   string
		pusher      string
		changes     []change
	}{
		{
			file: "ping-payload.json", event: "ping", kind: kindPing,
			repository: "Octocoders/Hello-World",
			urls:       []string{"https://github.com/Octocoders/Hello-World", "git@github.com:Octocoders/Hello-World.git"},
			defBranch:  "master",
		},
		{
			file: "push-payload.json", event: "push", kind: kindPush,
			repository: "Codertocat/Hello-World", urls: helloURLs, defBranch: "master", pusher: "Codertocat",
			changes: []change{{ref: "refs/tags/simple-tag", deleted: true}},
		},
		{
			file: "push-1.payload.json", event: "push", kind: kindPush,
			repository: "Codertocat/Hello-World", urls: helloURLs, defBranch: "master", pusher: "Codertocat",
			changes: []change{{ref: "refs/tags/simple-tag", deleted: true}},
		},
		{
			file: "push-with-organization.payload.json", event: "push", kind: kindPush,
			repository: "Codertocat/Hello-World", urls: helloURLs, defBranch: "master", pusher: "Codertocat",
			changes: []change{{ref: "refs/tags/simple-tag", deleted: true}},
		},
		{
			file: "push-with-new-branch.payload.json", event: "push", kind: kindPush,
			repository: "Codertocat/Hello-World", urls: helloURLs, defBranch: "master", pusher: "Codertocat",
			changes: []change{{ref: "refs/heads/master", revision: "6113728f27ae82c7b1a177c8d03f9e96e0adf246"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body := readGitHubPayload(t, tt.file)
			p, err := parseGitHub(tt.event, "application/json", body)
			if err != nil {
				t.Fatal(err)
			}
			if p.kind != tt.kind || p.repository != tt.repository || p.defaultBranch != tt.defBranch || p.pusher != tt.pusher {
				t.Errorf("got kind %d repository %q default %q pusher %q, want %d %q %q %q",
					p.kind, p.repository, p.defaultBranch, p.pusher, tt.kind, tt.repository, tt.defBranch, tt.pusher)
			}
			for _, u := range tt.urls {
				if !slices.Contains(p.urls, u) {
					t.Errorf("urls %q lack %q", p.urls, u)
				}
			}
			if !slices.Equal(p.changes, tt.changes) {
				t.Errorf("changes %+v, want %+v", p.changes, tt.changes)
			}
		})
	}
}

// Each real GitHub payload, signed and delivered, publishes exactly the
// triggers of the sources it concerns.
func TestGitHubSamplesPublish(t *testing.T) {
	const repo = "https://github.com/Codertocat/Hello-World.git"
	srcs := []config.Source{
		gitSource("hello-master", repo, "branch:master"),
		gitSource("hello-default", "git@github.com:codertocat/hello-world", ""),
		gitSource("hello-tag", repo, "tag:simple-tag"),
		gitSource("hello-other-tag", repo, "tag:v1"),
		gitSource("hello-pinned", repo, "commit:6113728f27ae82c7b1a177c8d03f9e96e0adf246"),
		gitSource("elsewhere", "https://github.com/Codertocat/Other.git", "branch:master"),
	}
	const deliveryID = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
	tests := []struct {
		file, event string
		status      int
		want        map[string]string // source -> revision
		ref         string
	}{
		{file: "ping-payload.json", event: "ping", status: http.StatusOK},
		{file: "push-with-new-branch.payload.json", event: "push", status: http.StatusAccepted, ref: "refs/heads/master",
			want: map[string]string{
				"hello-master":  "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
				"hello-default": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
			}},
		// The tag a source follows was deleted: its sync reports it.
		{file: "push-payload.json", event: "push", status: http.StatusAccepted, ref: "refs/tags/simple-tag",
			want: map[string]string{"hello-tag": ""}},
		{file: "push-with-organization.payload.json", event: "push", status: http.StatusAccepted, ref: "refs/tags/simple-tag",
			want: map[string]string{"hello-tag": ""}},
		{file: "push-1.payload.json", event: "push", status: http.StatusAccepted, ref: "refs/tags/simple-tag",
			want: map[string]string{"hello-tag": ""}},
	}
	for _, tt := range tests {
		for _, form := range []bool{false, true} {
			name := tt.file
			if form {
				name += "/form"
			}
			t.Run(name, func(t *testing.T) {
				body := readGitHubPayload(t, tt.file)
				contentType := "application/json"
				if form {
					body = []byte("payload=" + url.QueryEscape(string(body)))
					contentType = "application/x-www-form-urlencoded"
				}
				r := newTestReceiver(t, testHooks(t), srcs, Options{})
				d := signed(events.ProviderGitHub, githubSecret, tt.event, deliveryID, body)
				d.header.Set("Content-Type", contentType)
				res := r.send(t, d)
				if res.status != tt.status {
					t.Fatalf("status %d, want %d: %s", res.status, tt.status, res.raw)
				}
				got := r.pub.triggers()
				if len(got) != len(tt.want) {
					t.Fatalf("published %v, want %v", r.pub.sources(), tt.want)
				}
				for _, tr := range got {
					rev, ok := tt.want[tr.data.Source]
					if !ok {
						t.Errorf("published for %s", tr.data.Source)
						continue
					}
					p := tr.data.Provider
					if tr.data.Trigger != events.TriggerWebhook || tr.data.Revision != rev || p == nil ||
						p.Name != "github" || p.DeliveryID != deliveryID || p.Event != "push" ||
						p.Ref != tt.ref || p.Pusher != "Codertocat" || p.Repository != "Codertocat/Hello-World" {
						t.Errorf("trigger %+v provider %+v", tr.data, p)
					}
					if want := "wh-github-" + deliveryID + "-" + tr.data.Source; tr.id != want {
						t.Errorf("event id %q, want %q", tr.id, want)
					}
					if tr.source != events.ProducerSource(testDeployment, "webhook/github") {
						t.Errorf("producer %q", tr.source)
					}
				}
				if !slices.Equal(slices.Sorted(slices.Values(res.answer.Published)), r.pub.sources()) {
					t.Errorf("answer says published %v, stored %v", res.answer.Published, r.pub.sources())
				}
				if tt.status == http.StatusOK && !strings.Contains(res.answer.Ignored, "ping") {
					t.Errorf("answer %s", res.raw)
				}
			})
		}
	}
}

// GitHub's own example: a push signed with the secret "It's a Secret to
// Everybody" carries this signature.
func TestGitHubDocumentedSignature(t *testing.T) {
	pr, err := githubProof(http.Header{"X-Hub-Signature-256": {
		"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
	}}, "", []byte("Hello, World!"))
	if err != nil {
		t.Fatal(err)
	}
	if !pr(secret("It's a Secret to Everybody")) {
		t.Error("the documented signature is not accepted")
	}
	if pr(secret("It's a secret to everybody")) {
		t.Error("another secret is accepted")
	}
}
