package bus

import (
	"os"
	"path/filepath"
	"testing"
)

// ReadPassword trims trailing line breaks and nothing else, as
// docs/configuration.md (nats.passwordFile) says: a file written by echo
// or an editor works, and other whitespace is part of the password.
func TestReadPasswordTrimsOnlyTrailingLineBreaks(t *testing.T) {
	cases := []struct {
		name, content, want string
	}{
		{"no line break", "s3cret", "s3cret"},
		{"a trailing newline", "s3cret\n", "s3cret"},
		{"a trailing CRLF", "s3cret\r\n", "s3cret"},
		{"several trailing line breaks", "s3cret\n\n\r\n", "s3cret"},
		{"trailing spaces kept", "s3cret  \n", "s3cret  "},
		{"a trailing tab kept", "s3cret\t", "s3cret\t"},
		{"leading whitespace kept", " s3cret\n", " s3cret"},
		{"inner line break kept", "s3\ncret\n", "s3\ncret"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "password")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := ReadPassword(path)
			if err != nil || got != tc.want {
				t.Errorf("ReadPassword(%q) = %q, %v; want %q", tc.content, got, err, tc.want)
			}
		})
	}
}
