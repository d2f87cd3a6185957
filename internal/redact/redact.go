// Package redact removes credentials from URLs and from messages that
// quote them, wherever a URL is shown: logs, errors, status records and
// events. A URL keeps its scheme, host, port and path; user information
// (a user name, password or token) is dropped and every query value is
// replaced, as signed or tokenised URLs carry their secret there
// (?sig=..., ?token=...).
package redact

import (
	"regexp"
	"strings"
)

// Redacted replaces a secret's value.
const Redacted = "REDACTED"

// URL returns raw fit for errors and logs: "https://user:pass@host/x?sig=s"
// becomes "https://host/x?sig=REDACTED", and the scp-like
// "git@host:owner/repo" becomes "host:owner/repo". Strings that do not
// parse as URLs are handled too, so a malformed URL cannot leak what it
// carries.
func URL(raw string) string {
	return redactQuery(redactUserinfo(raw))
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
