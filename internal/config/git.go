package config

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
)

// The rules of a git source's settings, shared by validation and the git
// fetcher so that both say the same thing. Each error names the key it is
// about and never the repository URL, which may carry credentials.

// gitProtocols are the transports a git source can use, as go-git names
// them: a repository URL without a scheme is a local path ("file"), and
// user@host:path is "ssh".
var gitProtocols = []string{"https", "http", "ssh", "git", "file"}

// CheckGitRepository parses a git source's repository URL and refuses one
// that is empty or uses another transport than gitProtocols.
func CheckGitRepository(raw string) (*transport.Endpoint, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, errors.New("git.repository is required")
	}
	ep, err := transport.NewEndpoint(raw)
	if err != nil {
		return nil, errors.New("git.repository is not a valid repository URL")
	}
	if !slices.Contains(gitProtocols, ep.Protocol) {
		return nil, fmt.Errorf("git.repository must use one of the %s schemes, got %q", strings.Join(gitProtocols, ", "), ep.Protocol)
	}
	return ep, nil
}

// CheckGitRefs refuses more than one of git.branch, git.tag and
// git.commit; with none, the remote's default branch is used.
func CheckGitRefs(branch, tag, commit string) error {
	n := 0
	for _, r := range []string{branch, tag, commit} {
		if r != "" {
			n++
		}
	}
	if n > 1 {
		return errors.New("git.branch, git.tag, and git.commit are mutually exclusive")
	}
	return nil
}

// CheckGitCommit refuses a git.commit that is not a full SHA-1 commit id:
// 40 hexadecimal characters. A SHA-256 id (64) is refused with the reason:
// go-git reads SHA-1 repositories only.
func CheckGitCommit(sha string) error {
	const want = "git.commit must be a full commit SHA (40 hexadecimal characters)"
	switch {
	case len(sha) == 64 && isHex(sha):
		return fmt.Errorf("%s, got %q: SHA-256 repositories are not supported", want, sha)
	case len(sha) != 40 || !isHex(sha):
		return fmt.Errorf("%s, got %q", want, sha)
	}
	return nil
}

func isHex(s string) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// CheckGitPath reports why p cannot name a file inside a repository: it
// must be relative to the repository root and have no ".." segment, so it
// never leaves the repository. A leading "./" and doubled slashes are
// tolerated.
func CheckGitPath(p string) error {
	switch {
	case strings.TrimSpace(p) == "":
		return errors.New("path is empty")
	case strings.ContainsRune(p, 0):
		return fmt.Errorf("path %q contains a NUL byte", p)
	case strings.HasPrefix(p, "/") || filepath.IsAbs(p):
		return fmt.Errorf("path %q must be relative to the repository root", p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return fmt.Errorf("path %q escapes the repository (.. segment)", p)
		}
	}
	if c := path.Clean(p); c == "." {
		return fmt.Errorf("path %q names the repository root, not a file", p)
	}
	return nil
}

// defaultPorts are the ports of the URL schemes a repository is reached
// by, which a URL may name or leave out without changing what it means.
var defaultPorts = map[string]int{
	"https":   443,
	"http":    80,
	"ssh":     22,
	"git+ssh": 22,
	"ssh+git": 22,
	"git":     9418,
}

// DefaultPort is the port a repository URL with scheme (in lower case)
// reaches when it names none; ok is false for a scheme without one, such
// as file.
func DefaultPort(scheme string) (port int, ok bool) {
	port, ok = defaultPorts[scheme]
	return port, ok
}
