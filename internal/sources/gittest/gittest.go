// Package gittest serves git repositories over smart HTTP on loopback for
// tests: a bare repository behind `git http-backend`, a working clone to
// commit and push with the git command, and counts of the requests the
// server answered.
package gittest

import (
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// Server serves every bare repository under its root.
type Server struct {
	*httptest.Server
	root                 string
	infoRefs, uploadPack atomic.Int64
}

// Git returns the path of the git command, or skips the test without it.
func Git(tb testing.TB) string {
	tb.Helper()
	path, err := exec.LookPath("git")
	if err != nil {
		tb.Skipf("the git command is not installed: %v", err)
	}
	return path
}

// Env is the environment every git command of a test runs with, added
// to the process's: no system or user configuration, a fixed identity
// and never a prompt, so tests do not depend on the machine's setup.
var Env = []string{
	"GIT_CONFIG_NOSYSTEM=1",
	"GIT_CONFIG_GLOBAL=" + os.DevNull,
	"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.com",
	"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.com",
	"GIT_TERMINAL_PROMPT=0",
}

// Run runs git in dir with Env and returns its trimmed output.
func Run(tb testing.TB, dir string, args ...string) string {
	tb.Helper()
	cmd := exec.Command(Git(tb), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), Env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// NewServer starts a smart HTTP git server for the test.
func NewServer(tb testing.TB) *Server {
	tb.Helper()
	git := Git(tb)
	s := &Server{root: tb.TempDir()}
	backend := &cgi.Handler{
		Path: git,
		Args: []string{"http-backend"},
		Env:  append([]string{"GIT_PROJECT_ROOT=" + s.root, "GIT_HTTP_EXPORT_ALL=1"}, Env...),
	}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/info/refs"):
			s.infoRefs.Add(1)
		case strings.HasSuffix(r.URL.Path, "/git-upload-pack"):
			s.uploadPack.Add(1)
		}
		backend.ServeHTTP(w, r)
	}))
	tb.Cleanup(s.Close)
	return s
}

// Counts returns how many ref listings and pack fetches were answered.
func (s *Server) Counts() (infoRefs, uploadPack int64) {
	return s.infoRefs.Load(), s.uploadPack.Load()
}

// Repo is a bare repository on a Server and a working clone of it.
type Repo struct {
	tb   testing.TB
	URL  string
	work string
}

// NewRepo creates a bare repository named name with branch main.
func (s *Server) NewRepo(tb testing.TB, name string) *Repo {
	tb.Helper()
	bare := filepath.Join(s.root, name+".git")
	Run(tb, s.root, "init", "--bare", "--initial-branch=main", bare)
	Run(tb, bare, "config", "http.receivepack", "true")
	work := tb.TempDir()
	Run(tb, work, "init", "--initial-branch=main", ".")
	Run(tb, work, "remote", "add", "origin", bare)
	return &Repo{tb: tb, URL: s.URL + "/" + name + ".git", work: work}
}

// Push commits the files (path → content) and pushes main; it returns the
// new commit SHA.
func (r *Repo) Push(files map[string]string) string {
	r.tb.Helper()
	for path, content := range files {
		full := filepath.Join(r.work, path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			r.tb.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			r.tb.Fatal(err)
		}
	}
	Run(r.tb, r.work, "add", "-A")
	Run(r.tb, r.work, "commit", "-q", "-m", "update registry")
	Run(r.tb, r.work, "push", "-q", "origin", "main")
	return Run(r.tb, r.work, "rev-parse", "HEAD")
}
