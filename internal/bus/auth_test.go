package bus

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The generated password file is regsync's own: a symbolic link there, or
// a file others may read, is refused at every start, as ssh refuses a key
// file others can read, and so is one holding a short password.
func TestGeneratedPasswordFileMustBePrivate(t *testing.T) {
	good := strings.Repeat("p", MinPasswordLength)
	cases := []struct {
		name    string
		prepare func(t *testing.T, path string)
		want    string
	}{
		{"a symbolic link", func(t *testing.T, path string) {
			target := filepath.Join(t.TempDir(), "elsewhere")
			write(t, target, good, 0o600)
			if err := os.Symlink(target, path); err != nil {
				t.Fatal(err)
			}
		}, "is a symbolic link"},
		{"readable by others", func(t *testing.T, path string) { write(t, path, good, 0o604) }, "mode 0604 lets group or others read it"},
		{"readable by the group", func(t *testing.T, path string) { write(t, path, good, 0o640) }, "chmod 600 " + "PATH"},
		{"three spaces", func(t *testing.T, path string) { write(t, path, "   \n", 0o600) }, "at least 16 characters"},
		{"fifteen characters and white space", func(t *testing.T, path string) { write(t, path, " "+good[1:]+"  \n", 0o600) }, "15 characters"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if runtime.GOOS == "windows" && strings.Contains(tc.name, "readable") {
				t.Skip("no unix modes")
			}
			path := filepath.Join(t.TempDir(), "nats-password")
			tc.prepare(t, path)
			want := strings.ReplaceAll(tc.want, "PATH", path)
			for name, read := range map[string]func(string) (string, error){"EnsurePassword": EnsurePassword, "ReadGeneratedPassword": ReadGeneratedPassword} {
				if pw, err := read(path); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), path) {
					t.Errorf("%s = %q, %v; want an error naming the file and saying %q", name, pw, err, want)
				}
			}
		})
	}
	t.Run("a private file with a long password", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nats-password")
		write(t, path, good+"\n", 0o600)
		if pw, err := EnsurePassword(path); err != nil || pw != good {
			t.Errorf("EnsurePassword = %q, %v", pw, err)
		}
	})
}

// A password file given for the embedded server (nats.passwordFile) may
// be a link (a Kubernetes Secret volume is one) but must hold a password
// of at least MinPasswordLength characters, white space trimmed.
func TestReadEmbeddedPassword(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("x", MinPasswordLength)
	cases := []struct{ name, content, want, wantErr string }{
		{"three spaces", "   \n", "", "the password has 0 characters (white space trimmed); the embedded server requires at least 16 characters"},
		{"short", "hunter2\n", "", "the password has 7 characters"},
		{"long enough", long + "\r\n", long, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			target := filepath.Join(dir, tc.name)
			write(t, target, tc.content, 0o644)
			link := filepath.Join(dir, tc.name+".link")
			if err := os.Symlink(target, link); err != nil {
				t.Fatal(err)
			}
			pw, err := ReadEmbeddedPassword(link)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), link) {
					t.Errorf("err %v, want %q naming the file", err, tc.wantErr)
				}
				return
			}
			if err != nil || pw != tc.want {
				t.Errorf("ReadEmbeddedPassword = %q, %v; want %q", pw, err, tc.want)
			}
		})
	}
}

func write(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
}
