package config

import (
	"strings"
	"testing"

	"github.com/regsync/regsync/events"
)

// TestGitRules pins the words of the git rules, which validation and the
// git fetcher share.
func TestGitRules(t *testing.T) {
	errText := func(err error) string {
		if err == nil {
			return ""
		}
		return err.Error()
	}
	repo := func(raw string) error { _, err := CheckGitRepository(raw); return err }
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"https repository", repo("https://example.com/r.git"), ""},
		{"scp-like repository", repo("git@example.com:o/r.git"), ""},
		{"local path", repo("/srv/git/r.git"), ""},
		{"empty repository", repo("  "), "git.repository is required"},
		{"other scheme", repo("ftp://example.com/r.git"), `git.repository must use one of the https, http, ssh, git, file schemes, got "ftp"`},
		{"one ref", CheckGitRefs("main", "", ""), ""},
		{"two refs", CheckGitRefs("", "v1", "0123456789abcdef0123456789abcdef01234567"), "git.branch, git.tag, and git.commit are mutually exclusive"},
		{"full commit", CheckGitCommit("0123456789abcdef0123456789ABCDEF01234567"), ""},
		{"short commit", CheckGitCommit("abc123"), `git.commit must be a full commit SHA (40 hexadecimal characters), got "abc123"`},
		{"not hexadecimal", CheckGitCommit(strings.Repeat("g", 40)), `git.commit must be a full commit SHA (40 hexadecimal characters), got "` + strings.Repeat("g", 40) + `"`},
		{"SHA-256 commit", CheckGitCommit(strings.Repeat("a", 64)), `git.commit must be a full commit SHA (40 hexadecimal characters), got "` + strings.Repeat("a", 64) + `": SHA-256 repositories are not supported`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errText(tt.err); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDefaultPort(t *testing.T) {
	for scheme, want := range map[string]int{"https": 443, "http": 80, "ssh": 22, "git+ssh": 22, "ssh+git": 22, "git": 9418, "file": 0} {
		if got, ok := DefaultPort(scheme); got != want || ok != (want != 0) {
			t.Errorf("DefaultPort(%q) = %d, %v; want %d", scheme, got, ok, want)
		}
	}
}

// TestSourceNameRule checks that a source name loads exactly when events
// takes it: one rule for both.
func TestSourceNameRule(t *testing.T) {
	for _, name := range []string{"a", "local", "my-registry", "0day", strings.Repeat("a", 63),
		strings.Repeat("a", 64), "-lead", "trail-", "Upper", "dot.ted", "under_score", "bad%s", "spa ce"} {
		_, _, err := Parse([]byte("sources:\n  - name: \"" + name + "\"\n    managed: {}\n"))
		if loads := err == nil; loads != events.ValidSourceName(name) {
			t.Errorf("%q: loads %v (%v), events.ValidSourceName %v", name, loads, err, !loads)
		}
	}
}
