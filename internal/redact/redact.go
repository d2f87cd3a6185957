// Package redact removes credentials from URLs and from messages that
// quote them, wherever a URL is shown: logs, errors, status records and
// events. A URL keeps its scheme, host, port and path; user information
// (a user name, password or token) is dropped and every query value is
// replaced, as signed or tokenised URLs carry their secret there
// (?sig=..., ?token=...).
package redact

import (
	"net/url"
	"regexp"
	"strings"
)

// Redacted replaces a secret's value.
const Redacted = "REDACTED"

// Unparsable stands for a URL that does not parse even without its user
// information: it is never echoed, as what makes it fail may be a
// password's character.
const Unparsable = "(unparsable URL)"

// EncodeHint says how to write a password that holds what ends user
// information.
const EncodeHint = `percent-encode "/", "?", "#", "@", spaces and quotes in a user name or password`

// NotAURL is said of a URL that does not parse, in place of the URL and of
// url.Parse's error, which quotes it.
const NotAURL = "not a valid URL (not shown, as it may hold a password; " + EncodeHint + ")"

// scheme is a URL scheme (RFC 3986, section 3.1).
var scheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*$`)

// URL returns raw fit for errors and logs: "https://user:pass@host/x?sig=s"
// becomes "https://host/x?sig=REDACTED", and the scp-like
// "git@host:owner/repo" becomes "host:owner/repo". Strings that do not
// parse as URLs are handled too, so a malformed URL cannot leak what it
// carries: a password with an unencoded "/", "?", "#", space or quote goes
// as a whole, and a URL that still does not parse without its user
// information becomes "scheme://(unparsable URL)".
func URL(raw string) string {
	clean := redactUserinfo(raw)
	if i := strings.Index(clean, "://"); i >= 0 {
		if _, err := url.Parse(clean); err != nil {
			if scheme.MatchString(clean[:i]) {
				return clean[:i] + "://" + Unparsable
			}
			return Unparsable
		}
	}
	return redactQuery(clean)
}

// URLs redacts each URL of a comma-separated list, such as nats.url.
func URLs(list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		parts[i] = URL(p)
	}
	return strings.Join(parts, ",")
}

func redactUserinfo(raw string) string {
	if i := strings.Index(raw, "://"); i >= 0 {
		start := i + len("://")
		rest := raw[start:]
		end := strings.IndexAny(rest, "/?#")
		if end < 0 {
			end = len(rest)
		}
		at := strings.LastIndex(rest[:end], "@")
		if at < 0 && strings.Contains(rest[:end], ":") {
			// "u:ab/cd@host": a password holding an unencoded "/", "?"
			// or "#" ends the authority early, and its "@" comes after.
			// An "@" after a host and port ("https://h:8443/x/@scope")
			// reads alike and loses what comes before it: a password
			// must never show.
			at = strings.LastIndex(rest, "@")
		}
		if at >= 0 {
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

// redactQuery replaces the value of every query parameter; names stay.
// Parameters in the fragment are treated alike (some flows put tokens
// there), and so is anything after a second "?"; a plain fragment such as
// "#readme" stays.
func redactQuery(raw string) string {
	start := strings.IndexAny(raw, "?#")
	if start < 0 {
		return raw
	}
	var b strings.Builder
	b.WriteString(raw[:start])
	rest := raw[start:]
	for rest != "" {
		sep := rest[0]
		b.WriteByte(sep)
		rest = rest[1:]
		end := strings.IndexAny(rest, "?#&")
		if end < 0 {
			end = len(rest)
		}
		param := rest[:end]
		rest = rest[end:]
		switch name, value, ok := strings.Cut(param, "="); {
		case ok && value != "":
			b.WriteString(name + "=" + Redacted)
		case !ok && param != "" && sep != '#':
			// A bare value (?secret) is a value all the same.
			b.WriteString(Redacted)
		default:
			b.WriteString(param)
		}
	}
	return b.String()
}

// inMessage finds URLs quoted in a message: a scheme, then everything up to
// white space or a quote.
var inMessage = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>]+`)

// Message redacts every URL quoted in msg, as libraries quote the URLs
// they were given (`Get "https://host/x?token=t": ...`).
func Message(msg string) string {
	return inMessage.ReplaceAllStringFunc(msg, func(u string) string {
		// Punctuation that ends a sentence or a clause is not the URL's.
		trimmed := strings.TrimRight(u, ".,:;)]")
		return URL(trimmed) + u[len(trimmed):]
	})
}

// Error returns err shown as msg, its message with what must not be shown
// taken out; errors.Is and errors.As still see err. When msg is err's own
// message, err is returned as it is.
func Error(err error, msg string) error {
	if err == nil || msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
