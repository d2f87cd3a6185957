package bus

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/regsync/regsync/internal/bounded"
)

// EmbeddedUser is the user the embedded server requires when the
// configuration names none.
const EmbeddedUser = "regsync"

// maxPasswordSize bounds a password file: a password is a short string.
const maxPasswordSize = 4 << 10

// ReadPassword returns the password in the file at path, without trailing
// newlines. An empty or oversized file is an error.
func ReadPassword(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("read nats password file: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("read nats password file: %w", err)
	}
	if !info.Mode().IsRegular() {
		return "", fmt.Errorf("read nats password file %s: not a regular file", path)
	}
	b, err := bounded.ReadAll(f, maxPasswordSize)
	if _, ok := errors.AsType[*bounded.TooLargeError](err); ok {
		return "", fmt.Errorf("read nats password file %s: %w, not a password", path, err)
	}
	if err != nil {
		return "", fmt.Errorf("read nats password file %s: %w", path, err)
	}
	pw := strings.TrimRight(string(b), "\r\n")
	if pw == "" {
		return "", fmt.Errorf("read nats password file %s: the file is empty", path)
	}
	return pw, nil
}

// EnsurePassword returns the password in the file at path, first writing a
// new random one there (mode 0600, readable by its owner alone) when the
// file does not exist. The embedded server's generated password lives in
// such a file, so that clients on the same machine can read it.
func EnsurePassword(path string) (string, error) {
	pw, err := ReadPassword(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return pw, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("create nats password file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		// Another process wrote it first.
		return ReadPassword(path)
	}
	if err != nil {
		return "", fmt.Errorf("create nats password file: %w", err)
	}
	pw = rand.Text()
	if _, err := f.WriteString(pw + "\n"); err != nil {
		f.Close()
		os.Remove(path)
		return "", fmt.Errorf("write nats password file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return "", fmt.Errorf("write nats password file %s: %w", path, err)
	}
	return pw, nil
}
