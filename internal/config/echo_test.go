package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A configuration path that names something other than a configuration
// (a symlink to a token or key file, by mistake or by design) is refused
// with the line and the problem, never the file's content: the error is
// printed and logged.
func TestLoadNeverEchoesTheContentOfAFileThatIsNoConfiguration(t *testing.T) {
	const secret = "SECRETVALUE"
	cases := []struct{ name, content, want string }{
		{"a token", "ghp_" + secret + "\n", "line 1: want a mapping of configuration keys, got a string"},
		{"a private key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blb" + secret + "\n-----END OPENSSH PRIVATE KEY-----\n", "line 1: want a mapping of configuration keys, got a string"},
		{"a list", "- " + secret + "\n", "line 1: want a mapping of configuration keys, got a list"},
		{"an alias of an unknown anchor", "a: b\nc: *" + secret + "\n", "invalid YAML: line 2: unknown anchor referenced"},
	}
	dir := t.TempDir()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			target := filepath.Join(dir, tc.name)
			if err := os.WriteFile(target, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			link := filepath.Join(dir, tc.name+".yaml")
			if err := os.Symlink(target, link); err != nil {
				t.Fatal(err)
			}
			_, _, err := Load(link)
			if err == nil || strings.Contains(err.Error(), secret[:4]) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want %q and no content", err, tc.want)
			}
		})
	}
}
