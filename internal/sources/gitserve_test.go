package sources

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage"

	"github.com/regsync/regsync/internal/sources/gittest"
	"github.com/regsync/regsync/internal/testsupport"
)

// upstream is a bare repository under a served root, written with go-git.
type upstream struct {
	tb   testing.TB
	root string // the directory served: GIT_PROJECT_ROOT, --base-path
	name string // the repository's path under root
	repo *git.Repository
	when time.Time
}

func newUpstream(tb testing.TB) *upstream {
	tb.Helper()
	root := tb.TempDir()
	u := &upstream{tb: tb, root: root, name: "reg.git", when: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	repo, err := git.PlainInitWithOptions(filepath.Join(root, u.name), &git.PlainInitOptions{
		Bare:        true,
		InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")},
	})
	if err != nil {
		tb.Fatal(err)
	}
	u.repo = repo
	return u
}

func (u *upstream) dir() string { return filepath.Join(u.root, u.name) }

func (u *upstream) fileURL() string { return "file://" + u.dir() }

// entry is a file of a commit: its content and mode (a regular file when
// the mode is zero; for a symlink the content is its target).
type entry struct {
	content string
	mode    filemode.FileMode
}

// commit writes a commit holding exactly files on branch, whose tip it
// moves, and returns it.
func (u *upstream) commit(branch string, files map[string]entry) plumbing.Hash {
	u.tb.Helper()
	st := u.repo.Storer
	tree := u.writeTree(st, files)
	var parents []plumbing.Hash
	if ref, err := st.Reference(plumbing.NewBranchReferenceName(branch)); err == nil {
		parents = append(parents, ref.Hash())
	}
	u.when = u.when.Add(time.Minute)
	sig := object.Signature{Name: "Test", Email: "test@example.com", When: u.when}
	c := &object.Commit{Author: sig, Committer: sig, Message: "update " + branch, TreeHash: tree, ParentHashes: parents}
	h := u.store(st, c)
	if err := st.SetReference(plumbing.NewHashReference(plumbing.NewBranchReferenceName(branch), h)); err != nil {
		u.tb.Fatal(err)
	}
	return h
}

func (u *upstream) store(st storage.Storer, o interface {
	Encode(plumbing.EncodedObject) error
}) plumbing.Hash {
	u.tb.Helper()
	obj := st.NewEncodedObject()
	if err := o.Encode(obj); err != nil {
		u.tb.Fatal(err)
	}
	h, err := st.SetEncodedObject(obj)
	if err != nil {
		u.tb.Fatal(err)
	}
	return h
}

// writeTree writes the tree of files (paths with "/" make directories).
func (u *upstream) writeTree(st storage.Storer, files map[string]entry) plumbing.Hash {
	u.tb.Helper()
	sub := map[string]map[string]entry{}
	var entries []object.TreeEntry
	for name, e := range files {
		if dir, rest, ok := strings.Cut(name, "/"); ok {
			if sub[dir] == nil {
				sub[dir] = map[string]entry{}
			}
			sub[dir][rest] = e
			continue
		}
		obj := st.NewEncodedObject()
		obj.SetType(plumbing.BlobObject)
		w, _ := obj.Writer()
		_, _ = w.Write([]byte(e.content))
		_ = w.Close()
		h, err := st.SetEncodedObject(obj)
		if err != nil {
			u.tb.Fatal(err)
		}
		mode := e.mode
		if mode == 0 {
			mode = filemode.Regular
		}
		entries = append(entries, object.TreeEntry{Name: name, Mode: mode, Hash: h})
	}
	for dir, files := range sub {
		entries = append(entries, object.TreeEntry{Name: dir, Mode: filemode.Dir, Hash: u.writeTree(st, files)})
	}
	sort.Slice(entries, func(i, j int) bool { return treeSortName(entries[i]) < treeSortName(entries[j]) })
	return u.store(st, &object.Tree{Entries: entries})
}

func treeSortName(e object.TreeEntry) string {
	if e.Mode == filemode.Dir {
		return e.Name + "/"
	}
	return e.Name
}

// registryFiles is a commit holding one registry file at registry.json.
func registryFiles(content string) map[string]entry {
	return map[string]entry{"registry.json": {content: content}}
}

// lightweightTag points refs/tags/name at h.
func (u *upstream) lightweightTag(name string, h plumbing.Hash) {
	u.tb.Helper()
	if err := u.repo.Storer.SetReference(plumbing.NewHashReference(plumbing.NewTagReferenceName(name), h)); err != nil {
		u.tb.Fatal(err)
	}
}

// annotatedTag writes a tag object for h and points refs/tags/name at it.
func (u *upstream) annotatedTag(name string, h plumbing.Hash) plumbing.Hash {
	u.tb.Helper()
	tag := &object.Tag{Name: name, Tagger: object.Signature{Name: "Test", Email: "test@example.com", When: u.when},
		Message: "release " + name, TargetType: plumbing.CommitObject, Target: h}
	th := u.store(u.repo.Storer, tag)
	if err := u.repo.Storer.SetReference(plumbing.NewHashReference(plumbing.NewTagReferenceName(name), th)); err != nil {
		u.tb.Fatal(err)
	}
	return th
}

// testRegistry is a small registry in the upstream format, with one server
// per name.
func testRegistry(names ...string) string {
	var servers []string
	for _, n := range names {
		servers = append(servers, fmt.Sprintf(`{"name":"io.test/%s","description":"server %s","version":"1.0.0"}`, n, n))
	}
	return `{"$schema":"https://raw.githubusercontent.com/stacklok/toolhive-core/main/registry/types/data/upstream-registry.schema.json",` +
		`"version":"1.0.0","meta":{"last_updated":"2026-01-01T00:00:00Z"},"data":{"servers":[` + strings.Join(servers, ",") + `]}}`
}

// gitHTTP serves a root of repositories with git http-backend, optionally
// behind basic authentication, and counts what it serves.
type gitHTTP struct {
	*httptest.Server
	root        string
	user        string
	password    atomic.Value // string
	infoRefs    atomic.Int64
	uploadPacks atomic.Int64
	bytesOut    atomic.Int64
	// stall, when set, makes every request wait for the client to give up.
	stall atomic.Bool
	addr  string
}

func newGitHTTP(tb testing.TB, root, user, password string) *gitHTTP {
	tb.Helper()
	gitPath := gittest.Git(tb)
	s := &gitHTTP{root: root, user: user}
	s.password.Store(password)
	backend := &cgi.Handler{
		Path: gitPath,
		Args: []string{"http-backend"},
		Env:  append([]string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}, gittest.Env...),
	}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.stall.Load() {
			<-r.Context().Done()
			return
		}
		if s.user != "" {
			u, p, ok := r.BasicAuth()
			if !ok || u != s.user || p != s.password.Load().(string) {
				w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		switch {
		case strings.HasSuffix(r.URL.Path, "/info/refs"):
			s.infoRefs.Add(1)
		case strings.HasSuffix(r.URL.Path, "/git-upload-pack"):
			s.uploadPacks.Add(1)
		}
		backend.ServeHTTP(&countingWriter{ResponseWriter: w, n: &s.bytesOut}, r)
	}))
	s.Start()
	s.addr = s.Listener.Addr().String()
	tb.Cleanup(s.Close)
	return s
}

// restart serves again on the same address after Close.
func (s *gitHTTP) restart(tb testing.TB) {
	tb.Helper()
	var l net.Listener
	testsupport.Eventually(tb, "the address "+s.addr+" free to listen on again", func() bool {
		var err error
		l, err = net.Listen("tcp", s.addr)
		return err == nil
	})
	handler := s.Config.Handler
	s.Server = httptest.NewUnstartedServer(handler)
	s.Listener.Close()
	s.Listener = l
	s.Start()
	tb.Cleanup(s.Close)
}

func (s *gitHTTP) repoURL(name string) string { return s.URL + "/" + name }

func (s *gitHTTP) counts() (infoRefs, uploadPacks int64) {
	return s.infoRefs.Load(), s.uploadPacks.Load()
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n.Add(int64(n))
	return n, err
}

// startGitDaemon serves root over git:// on a free loopback port until the
// test ends.
func startGitDaemon(tb testing.TB, root string) string {
	tb.Helper()
	gittest.Git(tb)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command("git", "daemon", "--reuseaddr", "--base-path="+root, "--export-all",
		"--port="+strconv.Itoa(port), "--listen=127.0.0.1", "--informative-errors", root)
	cmd.Env = append(os.Environ(), gittest.Env...)
	// The daemon forks a process per connection: run them in a process
	// group of their own, killed as one at the end, and keep their
	// output in a file, whose writers need no reader.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logPath := filepath.Join(tb.TempDir(), "daemon.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	logFile.Close()
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	tb.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	})
	tb.Cleanup(func() {
		if tb.Failed() {
			b, _ := os.ReadFile(logPath)
			tb.Logf("git daemon log:\n%s", b)
		}
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	testsupport.Eventually(tb, "git daemon listening on "+addr, func() bool {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	return "git://" + addr
}

// clonesIn lists the clone directories under a data directory.
func clonesIn(tb testing.TB, dataDir string) []string {
	tb.Helper()
	entries, err := os.ReadDir(filepath.Join(dataDir, "git"))
	if err != nil && !os.IsNotExist(err) {
		tb.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, path.Join("git", e.Name()))
	}
	return out
}

func bg() context.Context { return context.Background() }
