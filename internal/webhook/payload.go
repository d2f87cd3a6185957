package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"strings"
	"unicode/utf8"
)

// kind is what a delivery is about.
type kind int

const (
	kindOther kind = iota // an event regsync does not act on
	kindPing              // the forge checks that the hook is reachable
	kindPush              // refs moved (or a generic trigger)
)

// payload is what a verified delivery says, in the terms regsync needs.
type payload struct {
	kind kind
	// repository is the repository as the forge names it, such as
	// "owner/name"; for the event's provider details and the logs.
	repository string
	// urls are the repository's locations found in the payload (web,
	// clone, ssh and git URLs); a source matches when its repository is
	// any of them.
	urls []string
	// paths are host-less "project/slug" names, for a Bitbucket Data
	// Center payload that carries no URL.
	paths []string
	// defaultBranch is the repository's default branch, when the payload
	// says it.
	defaultBranch string
	pusher        string
	changes       []change

	// source and revision are what a generic delivery names.
	source, revision string
}

// change is one ref a push moved.
type change struct {
	ref      string // full name: refs/heads/main, refs/tags/v1
	revision string // the commit now at ref; "" when deleted or unknown
	deleted  bool
}

// refs returns the refs of p's changes, for the answer and the logs.
func (p payload) refs() []string {
	out := make([]string, 0, len(p.changes))
	for _, c := range p.changes {
		out = append(out, c.ref)
	}
	return out
}

// errMalformed marks a body that cannot be read as the event it claims to
// be (answered 400).
var errMalformed = errors.New("malformed payload")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errMalformed, fmt.Sprintf(format, args...))
}

// decodeJSON decodes a JSON object into v.
func decodeJSON(raw []byte, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return malformed("%v", err)
	}
	return nil
}

// isForm reports whether contentType is application/x-www-form-urlencoded.
func isForm(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/x-www-form-urlencoded"
}

// formPayload returns the "payload" field of a form-encoded body, as GitHub
// and Gitea send it when the hook's content type is form.
func formPayload(body []byte) ([]byte, error) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, malformed("form body: %v", err)
	}
	p, ok := vals["payload"]
	if !ok || len(p) != 1 {
		return nil, malformed("form body: want exactly one payload field")
	}
	return []byte(p[0]), nil
}

// jsonBody returns the JSON document of a delivery: the body, or the
// payload field of a form-encoded body.
func jsonBody(contentType string, body []byte) ([]byte, error) {
	if isForm(contentType) {
		return formPayload(body)
	}
	return body, nil
}

// commitSHA returns s in lower case when it is a full SHA-1 or SHA-256
// commit id.
func commitSHA(s string) (string, bool) {
	if len(s) != 40 && len(s) != 64 {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return "", false
		}
	}
	return strings.ToLower(s), true
}

// zeroSHA reports an all-zero id: what forges send for a ref that does not
// exist (before a creation, after a deletion).
func zeroSHA(s string) bool {
	return s != "" && strings.Trim(s, "0") == ""
}

// refChange builds the change of a push that moved ref to after. A
// non-zero after must be a commit id; preferred, when it is one, replaces
// after as the revision (the commit a tag points at, where the forge
// reports it separately from the tag object).
func refChange(ref, after, preferred string, deleted bool) (change, error) {
	if !validRef(ref) {
		return change{}, malformed("ref %q is not a full git ref", clip(ref))
	}
	if deleted || zeroSHA(after) {
		return change{ref: ref, deleted: true}, nil
	}
	rev, ok := commitSHA(after)
	if !ok {
		return change{}, malformed("%q is not a commit id", clip(after))
	}
	if p, ok := commitSHA(preferred); ok && !zeroSHA(p) {
		rev = p
	}
	return change{ref: ref, revision: rev}, nil
}

// maxRefLen bounds a ref name; git itself has no hard limit, but no source
// follows a ref this long.
const maxRefLen = 1024

func validRef(ref string) bool {
	return strings.HasPrefix(ref, "refs/") && len(ref) <= maxRefLen && utf8.ValidString(ref) && !hasControl(ref)
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

// maxFieldLen bounds the outside strings regsync repeats in events, answers
// and logs.
const maxFieldLen = 256

// clip returns s as valid UTF-8 without control characters, cut to
// maxFieldLen bytes.
func clip(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if hasControl(s) {
		s = strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return ' '
			}
			return r
		}, s)
	}
	if len(s) <= maxFieldLen {
		return s
	}
	cut := maxFieldLen
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// first returns the first non-empty string.
func first(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
