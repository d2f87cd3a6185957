package webhook

import (
	"net/http"
	"unicode/utf8"

	"github.com/regsync/regsync/events"
)

// maxGenericRevision bounds the revision a generic delivery names.
const maxGenericRevision = 256

// genericProof reads X-Signature: "sha256=" and the hex HMAC-SHA256 of the
// body.
func genericProof(h http.Header, _ string, body []byte) (proof, error) {
	v := h.Get("X-Signature")
	if v == "" {
		return nil, errNoSignature
	}
	sig, err := prefixedHex(v, "sha256=")
	if err != nil {
		return nil, err
	}
	return hmacProof(sig, body), nil
}

// parseGeneric reads {"source": "<name>", "revision": "<optional>"}: a
// trigger for one named source of any synced type. The revision, when
// given, is what the source's sync reports (a commit SHA for git, the
// content digest for files); it lets the worker skip a sync that is up to
// date.
func parseGeneric(_, _ string, body []byte) (payload, error) {
	var p struct {
		Source   *string `json:"source"`
		Revision string  `json:"revision"`
	}
	if err := decodeJSON(body, &p); err != nil {
		return payload{}, err
	}
	if p.Source == nil || *p.Source == "" {
		return payload{}, malformed(`"source" is required`)
	}
	if !events.ValidSourceName(*p.Source) {
		return payload{}, malformed("source %q is not a valid source name", clip(*p.Source))
	}
	if len(p.Revision) > maxGenericRevision || !utf8.ValidString(p.Revision) || hasControl(p.Revision) {
		return payload{}, malformed("revision must be printable text of at most %d bytes", maxGenericRevision)
	}
	return payload{kind: kindPush, source: *p.Source, revision: p.Revision}, nil
}
