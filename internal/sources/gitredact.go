package sources

import (
	"regexp"
	"strings"
)

// urlUserinfo matches the scheme and user information of a URL in a
// message.
var urlUserinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s"'@]*@`)

// RedactURL returns a repository URL fit for errors and logs: the user
// information (user name, password or token) is removed, whatever the
// form: "https://user:pass@host/x.git" becomes "https://host/x.git" and
// "git@host:owner/repo" becomes "host:owner/repo". Strings that do not
// parse as URLs are handled too, so a malformed URL cannot leak what it
// carries.
func RedactURL(raw string) string {
	if i := strings.Index(raw, "://"); i >= 0 {
		start := i + len("://")
		rest := raw[start:]
		end := strings.IndexAny(rest, "/?#")
		if end < 0 {
			end = len(rest)
		}
		if at := strings.LastIndex(rest[:end], "@"); at >= 0 {
			return raw[:start] + rest[at+1:]
		}
		return raw
	}
	// scp-like syntax, [user[:password]@]host:path: the user information
	// ends at the last "@" before the first slash, and a host:path follows.
	head := raw
	if slash := strings.Index(raw, "/"); slash >= 0 {
		head = raw[:slash]
	}
	if at := strings.LastIndex(head, "@"); at >= 0 && strings.Contains(raw[at+1:], ":") {
		return raw[at+1:]
	}
	return raw
}

// redactor scrubs one repository's secrets from error messages: its URL as
// written (which may carry credentials) and the password read for it.
type redactor struct {
	r *strings.Replacer
}

// minScrubbedSecret is the shortest password scrubbed from messages on its
// own: shorter strings would mangle unrelated words, and the URL forms,
// which are always scrubbed, are what an error quotes in practice.
const minScrubbedSecret = 6

func newRedactor(rawURL string, secrets ...string) redactor {
	var pairs []string
	if red := RedactURL(rawURL); red != rawURL {
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
	// Whatever else a library quoted: user information in any URL, such
	// as net/http's "user:***@host".
	clean = urlUserinfo.ReplaceAllString(clean, "$1")
	if clean == msg {
		return err
	}
	return &redactedError{msg: clean, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
