package sources

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport"
)

func TestRedactorScrubsErrors(t *testing.T) {
	raw := "https://bot:hunter2-token@host/x.git"
	red := newRedactor(raw, "file-password-123", "short")
	cause := errors.New("dial tcp: refused")
	err := red.err(fmt.Errorf(`clone %s: Get "https://bot:***@host/x.git/info/refs": token hunter2-token, password file-password-123, short: %w`, raw, cause))
	msg := err.Error()
	for _, secret := range []string{"hunter2-token", "file-password-123", "bot:", "bot@"} {
		if strings.Contains(msg, secret) {
			t.Errorf("%q left in %q", secret, msg)
		}
	}
	if !strings.Contains(msg, "clone https://host/x.git") || !strings.Contains(msg, `Get "https://host/x.git/info/refs"`) {
		t.Errorf("message = %q", msg)
	}
	// Too short to scrub on its own without mangling words.
	if !strings.Contains(msg, "short") {
		t.Errorf("message = %q", msg)
	}
	if !errors.Is(err, cause) {
		t.Error("the chain is lost")
	}
	if red.err(nil) != nil {
		t.Error("nil error")
	}
	plain := errors.New("nothing secret")
	if red.err(plain) != plain {
		t.Error("a clean error was rewrapped")
	}
}

func TestCloneKey(t *testing.T) {
	key := func(raw string) string {
		t.Helper()
		ep, err := transport.NewEndpoint(raw)
		if err != nil {
			t.Fatal(err)
		}
		return cloneKey(ep)
	}
	same := [][]string{
		{"https://github.com/o/r.git", "https://GitHub.com/o/r.git", "https://user:pw@github.com/o/r.git", "https://github.com:443/o/r.git", "https://github.com/o/r.git/"},
		{"git@github.com:o/r.git", "ssh://git@github.com/o/r.git", "ssh://other@github.com:22/o/r.git"},
		{"file:///srv/x.git", "/srv/x.git", "/srv/../srv/x.git"},
	}
	seen := map[string]string{}
	for _, group := range same {
		k := key(group[0])
		for _, u := range group[1:] {
			if got := key(u); got != k {
				t.Errorf("%s and %s have different clones", group[0], u)
			}
		}
		if prev, ok := seen[k]; ok {
			t.Errorf("%s and %s share a clone", prev, group[0])
		}
		seen[k] = group[0]
	}
	for _, pair := range [][2]string{
		{"https://github.com/o/r.git", "https://github.com/o/r"},
		{"https://github.com/o/r.git", "http://github.com/o/r.git"},
		{"https://github.com/o/r.git", "https://github.com:8443/o/r.git"},
	} {
		if key(pair[0]) == key(pair[1]) {
			t.Errorf("%s and %s share a clone", pair[0], pair[1])
		}
	}
}
