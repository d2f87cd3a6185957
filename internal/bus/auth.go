package bus

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"unicode/utf8"

	"github.com/regsync/regsync/internal/bounded"
)

// EmbeddedUser is the user the embedded server requires when the
// configuration names none.
const EmbeddedUser = "regsync"

// maxPasswordSize bounds a password file: a password is a short string.
const maxPasswordSize = 4 << 10

// MinPasswordLength is the fewest characters, white space trimmed, of a
// password read from a file for the embedded server: the generated one
// has 26.
const MinPasswordLength = 16

// ReadPassword returns the password in the file at path, without trailing
// newlines. An empty or oversized file is an error, and so is anything
// but a regular file (see bounded.Open).
func ReadPassword(path string) (string, error) {
	pw, _, err := readPassword(path)
	return pw, err
}

// ReadEmbeddedPassword is ReadPassword for a password the embedded server
// requires (nats.passwordFile): one shorter than MinPasswordLength is
// refused as well.
func ReadEmbeddedPassword(path string) (string, error) {
	pw, _, err := readPassword(path)
	if err != nil {
		return "", err
	}
	if err := checkLength(pw); err != nil {
		return "", fmt.Errorf("read nats password file %s: %w", path, err)
	}
	return pw, nil
}

// ReadGeneratedPassword reads the password file regsync generates for the
// embedded server (see EnsurePassword). The file is regsync's own and is
// checked as ssh checks a private key: a symbolic link is refused (it
// would let whoever placed it choose the password, or read one meant for
// something else), and so is a file that group or others may read, and a
// password shorter than MinPasswordLength.
func ReadGeneratedPassword(path string) (string, error) {
	link, err := os.Lstat(path)
	if err != nil {
		return "", fmt.Errorf("read nats password file: %w", err)
	}
	if link.Mode()&fs.ModeSymlink != 0 {
		return "", fmt.Errorf("read nats password file %s: is a symbolic link; regsync writes this file itself (mode 0600) and follows no link there: remove the link", path)
	}
	pw, info, err := readPassword(path)
	if err != nil {
		return "", err
	}
	if !os.SameFile(link, info) {
		return "", fmt.Errorf("read nats password file %s: the file was replaced while it was read", path)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return "", fmt.Errorf("read nats password file %s: mode %04o lets group or others read it; it must be readable by its owner alone: chmod 600 %s", path, perm, path)
	}
	if err := checkLength(pw); err != nil {
		return "", fmt.Errorf("read nats password file %s: %w", path, err)
	}
	return pw, nil
}

func readPassword(path string) (string, fs.FileInfo, error) {
	f, info, err := bounded.Open(path)
	if _, ok := errors.AsType[*bounded.NotRegularError](err); ok {
		return "", nil, fmt.Errorf("read nats password file %s: %w", path, err)
	}
	if err != nil {
		return "", nil, fmt.Errorf("read nats password file: %w", err)
	}
	defer f.Close()
	b, err := bounded.ReadAll(f, maxPasswordSize)
	if _, ok := errors.AsType[*bounded.TooLargeError](err); ok {
		return "", nil, fmt.Errorf("read nats password file %s: %w, not a password", path, err)
	}
	if err != nil {
		return "", nil, fmt.Errorf("read nats password file %s: %w", path, err)
	}
	pw := strings.TrimRight(string(b), "\r\n")
	if pw == "" {
		return "", nil, fmt.Errorf("read nats password file %s: the file is empty", path)
	}
	return pw, info, nil
}

// checkLength refuses a password shorter than MinPasswordLength, white
// space trimmed.
func checkLength(pw string) error {
	if n := utf8.RuneCountInString(strings.TrimSpace(pw)); n < MinPasswordLength {
		return fmt.Errorf("the password has %d characters (white space trimmed); the embedded server requires at least %d characters", n, MinPasswordLength)
	}
	return nil
}

// EnsurePassword returns the password in the file at path (see
// ReadGeneratedPassword), first writing a new random one there (mode
// 0600, readable by its owner alone) when the file does not exist. The
// embedded server's generated password lives in such a file, so that
// clients on the same machine can read it.
func EnsurePassword(path string) (string, error) {
	pw, err := ReadGeneratedPassword(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return pw, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("create nats password file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		// Another process wrote it first.
		return ReadGeneratedPassword(path)
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
