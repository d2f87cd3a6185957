package webhook

import (
	"net/http"
	"slices"

	"github.com/regsync/regsync/events"
)

// provider is how one receiver reads its requests.
type provider struct {
	name string // events.Provider*: the path segment and Provider.Name
	// proof reads what the request presents to prove it knows a secret;
	// the error (missing, malformed) is answered 401.
	proof func(h http.Header, contentType string, body []byte) (proof, error)
	// event and delivery read the event name and delivery id headers.
	event    func(h http.Header) string
	delivery func(h http.Header) string
	// parse reads a verified body; errors wrap errMalformed.
	parse func(event, contentType string, body []byte) (payload, error)
}

// Providers names every receiver, as it appears in its path
// (PathPrefix + name), in the order Enabled reports them.
func Providers() []string { return slices.Clone(providerNames) }

// providerNames lists the receivers in the order Enabled reports them.
var providerNames = events.Providers()

var providers = map[string]*provider{
	events.ProviderGitHub: {
		name:     events.ProviderGitHub,
		proof:    githubProof,
		event:    header("X-GitHub-Event"),
		delivery: header("X-GitHub-Delivery"),
		parse:    parseGitHub,
	},
	events.ProviderGitLab: {
		name:  events.ProviderGitLab,
		proof: gitlabProof,
		event: header("X-Gitlab-Event"),
		// Idempotency-Key is the one that stays the same when GitLab
		// retries a delivery; older GitLab versions send only the others.
		delivery: header("Idempotency-Key", "X-Gitlab-Event-UUID", "X-Gitlab-Webhook-UUID"),
		parse:    parseGitLab,
	},
	events.ProviderGitea: {
		name:     events.ProviderGitea,
		proof:    giteaProof,
		event:    header("X-Gitea-Event", "X-Forgejo-Event", "X-Gogs-Event"),
		delivery: header("X-Gitea-Delivery", "X-Forgejo-Delivery", "X-Gogs-Delivery"),
		parse:    parseGitea,
	},
	events.ProviderBitbucket: {
		name:  events.ProviderBitbucket,
		proof: bitbucketProof,
		event: header("X-Event-Key"),
		// Cloud sends X-Request-UUID, Data Center X-Request-Id.
		delivery: header("X-Request-UUID", "X-Request-Id"),
		parse:    parseBitbucket,
	},
	events.ProviderGeneric: {
		name:     events.ProviderGeneric,
		proof:    genericProof,
		event:    func(http.Header) string { return "" },
		delivery: header("X-Delivery-Id", "Idempotency-Key"),
		parse:    parseGeneric,
	},
}

// header returns a reader of the first non-empty of the named headers.
func header(names ...string) func(http.Header) string {
	return func(h http.Header) string {
		for _, n := range names {
			if v := h.Get(n); v != "" {
				return v
			}
		}
		return ""
	}
}
