package sources

import (
	"strings"

	"github.com/regsync/regsync/internal/printable"
	"github.com/regsync/regsync/internal/redact"
)

// redactor scrubs one repository's secrets from error messages: its URL as
// written (which may carry credentials) and the password read for it. It
// also escapes the control characters of what a remote said (a git ERR
// line, an HTTP error body), as the message reaches terminals.
type redactor struct {
	r *strings.Replacer
}

// minScrubbedSecret is the shortest password scrubbed from messages on its
// own: shorter strings would mangle unrelated words, and the URL forms,
// which are always scrubbed, are what an error quotes in practice.
const minScrubbedSecret = 6

func newRedactor(rawURL string, secrets ...string) redactor {
	var pairs []string
	if red := redact.URL(rawURL); red != rawURL {
		pairs = append(pairs, rawURL, red)
		// The user information on its own, as libraries quote it in
		// their own URL forms ("user:***@host").
		if i := strings.Index(rawURL, "://"); i >= 0 {
			rest := rawURL[i+3:]
			if end := strings.IndexAny(rest, "/?#"); end >= 0 {
				rest = rest[:end]
			}
			if at := strings.LastIndex(rest, "@"); at >= 0 {
				userinfo := rest[:at]
				pairs = append(pairs, userinfo+"@", "")
				if c := strings.Index(userinfo, ":"); c >= 0 && len(userinfo[c+1:]) >= minScrubbedSecret {
					pairs = append(pairs, userinfo[c+1:], "REDACTED")
				}
			}
		}
	}
	for _, s := range secrets {
		if len(s) >= minScrubbedSecret {
			pairs = append(pairs, s, "REDACTED")
		}
	}
	if len(pairs) == 0 {
		return redactor{}
	}
	return redactor{r: strings.NewReplacer(pairs...)}
}

// err returns err with the secrets scrubbed from its message. errors.Is
// and errors.As still see the original chain.
func (r redactor) err(err error) error {
	if err == nil {
		return err
	}
	msg := err.Error()
	clean := msg
	if r.r != nil {
		clean = r.r.Replace(clean)
	}
	// Whatever else a library quoted: user information and query values
	// in any URL, such as net/http's "user:***@host".
	clean = redact.Message(clean)
	clean = printable.String(clean)
	return redact.Error(err, clean)
}

// scrub returns err with every URL it quotes redacted (see
// redact.Message) and its control characters escaped (see printable).
// errors.Is and errors.As still see the original chain.
func scrub(err error) error { return redactor{}.err(err) }
