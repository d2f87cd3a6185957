package redact

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://user:pass@host/x.git", "https://host/x.git"},
		{"https://token@github.com/owner/repo.git", "https://github.com/owner/repo.git"},
		{"https://user:p%40ss@host:8443/x.git?a=b", "https://host:8443/x.git?a=REDACTED"},
		{"https://user:p@ss@host/x.git", "https://host/x.git"},
		{"http://user:pass@host", "http://host"},
		{"https://user:pass@host?q=1", "https://host?q=REDACTED"},
		{"ssh://git@host:2222/owner/repo.git", "ssh://host:2222/owner/repo.git"},
		{"git@host:owner/repo", "host:owner/repo"},
		{"git@github.com:owner/repo.git", "github.com:owner/repo.git"},
		{"deploy:secret@host:owner/repo", "host:owner/repo"},
		{"https://host/x.git", "https://host/x.git"},
		{"https://host/path/with@at/x.git", "https://host/path/with@at/x.git"},
		{"git://host/x.git", "git://host/x.git"},
		{"file:///srv/git/x.git", "file:///srv/git/x.git"},
		{"/srv/git/x.git", "/srv/git/x.git"},
		{"relative/dir@2/x", "relative/dir@2/x"},
		{"https://user:pass%zz@host/x.git", "https://host/x.git"},
		{"https://blob.example/r.json?sig=abc&se=2026&sp=r", "https://blob.example/r.json?sig=REDACTED&se=REDACTED&sp=REDACTED"},
		{"https://host/r.json?token=t0k#frag", "https://host/r.json?token=REDACTED#frag"},
		{"https://host/r.json?secretvalue&empty=", "https://host/r.json?REDACTED&empty="},
		{"https://host/r.json?", "https://host/r.json?"},
		{"nats://regsync:pw@127.0.0.1:4222", "nats://127.0.0.1:4222"},
		// Unencoded "/", "?", "#", space or quote in a password (a raw
		// base64 secret): the user information still goes, never a part.
		{"nats://regsync:ab/cd+ef==@127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"nats://regsync:4222/cd+ef==@127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"nats://regsync:ab?cd@host:4222", "nats://host:4222"},
		{"nats://regsync:ab#cd@host:4222", "nats://host:4222"},
		{"nats://regsync:a b@host:4222", "nats://host:4222"},
		{`nats://regsync:a"b@host:4222`, "nats://host:4222"},
		{"https://u:ab/c@d@host/x.git", "https://host/x.git"},
		// What still does not parse is never echoed.
		{"nats://[::1", "nats://" + Unparsable},
		{"nats://host/%zz", "nats://" + Unparsable},
		{"a b://host", Unparsable},
		{"", ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := URL(tc.in); got != tc.want {
				t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestURLs(t *testing.T) {
	got := URLs("nats://a:pw@one:4222,nats://two:4222,tls://tok@three")
	if want := "nats://one:4222,nats://two:4222,tls://three"; got != want {
		t.Errorf("URLs = %q, want %q", got, want)
	}
}

func TestMessage(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"quoted by net/http", `Get "https://host/r.json?sig=s3cr3t": dial tcp: refused`, `Get "https://host/r.json?sig=REDACTED": dial tcp: refused`},
		{"user information", "connect to nats://u:hunter2@h:4222 failed", "connect to nats://h:4222 failed"},
		{"several URLs", "redirect from https://a/x?t=1 to https://b/y?t=2", "redirect from https://a/x?t=REDACTED to https://b/y?t=REDACTED"},
		{"followed by punctuation", "HTTP 429 for URL http://h/v0.1/servers?limit=100: Too Many Requests (see https://h/x?a=1).", "HTTP 429 for URL http://h/v0.1/servers?limit=REDACTED: Too Many Requests (see https://h/x?a=REDACTED)."},
		{"no URL", "file not found: /srv/registry.json", "file not found: /srv/registry.json"},
		{"password with a slash", "connect to nats://u:ab/cd==@h:4222 failed", "connect to nats://h:4222 failed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Message(tc.in); got != tc.want {
				t.Errorf("Message(%q)\n = %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
}

// Whatever the input, a user's password or a query value never survives
// URL, and Message never grows what it is given beyond the markers.
func FuzzURL(f *testing.F) {
	for _, s := range []string{
		"https://user:pass@host/x.git?sig=abc", "git@host:owner/repo", "nats://a:b@h:4222,nats://c",
		"https://host/r.json?token=t#f", "", "://@?&=#", "host:4222", "h@x",
	} {
		f.Add(s, "s3cretvalue")
		for _, secret := range []string{"ab/cd+ef==", "4222/cd+ef==", "pass?word#1", "pass word 1", `pass"word"1`, "a/b?c#d e\"f"} {
			f.Add(s, secret)
		}
	}
	f.Fuzz(func(t *testing.T, prefix, secret string) {
		// The password may hold anything a person or a base64 encoder
		// writes unencoded ("/", "?", "#", space, quote) but "@", which
		// ends it, and "%", which starts an escape.
		if len(secret) < 8 || strings.Contains(prefix, secret) || strings.ContainsAny(secret, "@%") {
			return
		}
		raws := []string{"https://u:" + secret + "@" + prefix}
		if !strings.ContainsAny(secret, "?#&") {
			// Query values end at these: a secret holding one is not a
			// query value as a whole.
			raws = append(raws,
				"https://host/"+prefix+"?sig="+secret,
				"https://host/x?a=1&token="+secret+"#"+prefix)
		}
		for _, raw := range raws {
			if strings.Contains(URL(raw), secret) {
				t.Errorf("URL(%q) = %q keeps the secret", raw, URL(raw))
			}
			if strings.ContainsAny(prefix+secret, " \t\r\n\f\"'<>") {
				// A message's URL ends at white space or a quote, so a
				// password holding one cannot be told from the words
				// after it: such a URL never parses, and regsync never
				// quotes one that does not (see TestURL).
				continue
			}
			msg := "failed: " + raw + ": refused"
			if strings.Contains(Message(msg), secret) {
				t.Errorf("Message(%q) = %q keeps the secret", msg, Message(msg))
			}
		}
	})
}

func TestErrorKeepsTheChain(t *testing.T) {
	inner := errors.New("dial https://user:secret@example.com/x: refused")
	err := Error(fmt.Errorf("connect: %w", inner), "connect: "+Message(inner.Error()))
	if strings.Contains(err.Error(), "secret") || !errors.Is(err, inner) {
		t.Errorf("Error() = %q (is inner: %v), want it redacted and still wrapping", err, errors.Is(err, inner))
	}
	if same := errors.New("plain"); Error(same, "plain") != same {
		t.Error("an unchanged message is not the same error")
	}
}
