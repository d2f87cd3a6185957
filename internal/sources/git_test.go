package sources

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"

	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/registry"
	"github.com/regsync/regsync/internal/sources/gittest"
	"github.com/regsync/regsync/internal/testsupport"
)

func gitSrc(repo string, mod func(*config.Git)) config.Source {
	g := &config.Git{Repository: repo}
	if mod != nil {
		mod(g)
	}
	return config.Source{Name: "g", Git: g}
}

// mustFetch fetches and checks the bytes and revision.
func mustFetch(t *testing.T, f *Fetcher, src config.Source, wantRaw string, wantRev plumbing.Hash) *Fetched {
	t.Helper()
	got, err := f.Fetch(bg(), src)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if string(got.Raw) != wantRaw {
		t.Errorf("raw = %.80q, want %.80q", got.Raw, wantRaw)
	}
	if got.Hash != registry.Hash([]byte(wantRaw)) {
		t.Errorf("hash = %s, want the sha256 of the bytes", got.Hash)
	}
	if got.Revision != wantRev.String() {
		t.Errorf("revision = %s, want %s", got.Revision, wantRev)
	}
	return got
}

func fetchErr(t *testing.T, f *Fetcher, src config.Source, want ...string) error {
	t.Helper()
	_, err := f.Fetch(bg(), src)
	if err == nil {
		t.Fatalf("Fetch succeeded, want an error containing %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("err = %v\nwant it to contain %q", err, w)
		}
	}
	return err
}

func TestGitRefs(t *testing.T) {
	gittest.Git(t)
	u := newUpstream(t)
	v1, v2, v3 := testRegistry("a"), testRegistry("a", "b"), testRegistry("a", "b", "c")
	c1 := u.commit("main", registryFiles(v1))
	c2 := u.commit("main", registryFiles(v2))
	c3 := u.commit("feature", registryFiles(v3))
	u.lightweightTag("light", c1)
	tagObj := u.annotatedTag("v2.0.0", c2)
	u.annotatedTag("v1.0.0", c1)

	f := &Fetcher{DataDir: t.TempDir()}
	tests := []struct {
		name    string
		mod     func(*config.Git)
		raw     string
		rev     plumbing.Hash
		listRev plumbing.Hash
	}{
		{"default branch", nil, v2, c2, c2},
		{"branch", func(g *config.Git) { g.Branch = "feature" }, v3, c3, c3},
		{"lightweight tag", func(g *config.Git) { g.Tag = "light" }, v1, c1, c1},
		{"annotated tag peels to its commit", func(g *config.Git) { g.Tag = "v2.0.0" }, v2, c2, c2},
		{"second annotated tag", func(g *config.Git) { g.Tag = "v1.0.0" }, v1, c1, c1},
		{"pinned commit", func(g *config.Git) { g.Commit = c1.String() }, v1, c1, c1},
		{"pinned commit in upper case", func(g *config.Git) { g.Commit = strings.ToUpper(c2.String()) }, v2, c2, c2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := gitSrc(u.fileURL(), tc.mod)
			mustFetch(t, f, src, tc.raw, tc.rev)
			rev, err := f.Revision(bg(), src)
			if err != nil {
				t.Fatal(err)
			}
			if rev != tc.listRev.String() {
				t.Errorf("Revision = %s, want %s", rev, tc.listRev)
			}
		})
	}
	if tagObj == c2 {
		t.Fatal("the annotated tag is its commit")
	}
	if n := len(clonesIn(t, f.DataDir)); n != 1 {
		t.Errorf("%d clones, want one shared by every ref", n)
	}

	t.Run("missing refs", func(t *testing.T) {
		fetchErr(t, f, gitSrc(u.fileURL(), func(g *config.Git) { g.Branch = "nope" }), `branch "nope" not found`, u.dir())
		fetchErr(t, f, gitSrc(u.fileURL(), func(g *config.Git) { g.Tag = "v9" }), `tag "v9" not found`)
		fetchErr(t, f, gitSrc(u.fileURL(), func(g *config.Git) { g.Commit = strings.Repeat("ab", 20) }),
			"failed to clone repository: "+u.fileURL(), "abab")
		if _, err := f.Revision(bg(), gitSrc(u.fileURL(), func(g *config.Git) { g.Branch = "nope" })); err == nil || !strings.Contains(err.Error(), `branch "nope" not found`) {
			t.Errorf("Revision err = %v", err)
		}
	})

	t.Run("without a data directory every fetch clones afresh", func(t *testing.T) {
		mustFetch(t, &Fetcher{}, gitSrc(u.fileURL(), nil), v2, c2)
		mustFetch(t, &Fetcher{}, gitSrc(u.fileURL(), func(g *config.Git) { g.Tag = "v1.0.0" }), v1, c1)
	})
}

func TestGitPaths(t *testing.T) {
	gittest.Git(t)
	u := newUpstream(t)
	big := strings.Repeat("x", 5000)
	head := u.commit("main", map[string]entry{
		"registry.json":                  {content: testRegistry("root")},
		"pkg/catalog/data/registry.json": {content: testRegistry("deep")},
		"broken.json":                    {content: `{"data": {"servers": [`},
		"big.json":                       {content: big},
		"link.json":                      {content: "pkg/catalog/data/registry.json", mode: filemode.Symlink},
		"pkg/up.json":                    {content: "../registry.json", mode: filemode.Symlink},
		"pkg/dirlink":                    {content: "catalog/data", mode: filemode.Symlink},
		"escape.json":                    {content: "../outside.json", mode: filemode.Symlink},
		"pkg/escape.json":                {content: "../../etc/passwd", mode: filemode.Symlink},
		"absolute.json":                  {content: "/etc/passwd", mode: filemode.Symlink},
		"loop.json":                      {content: "loop.json", mode: filemode.Symlink},
		"run.sh":                         {content: "#!/bin/sh\n", mode: filemode.Executable},
	})
	f := &Fetcher{DataDir: t.TempDir(), MaxSize: 4096}
	src := func(p string) config.Source { return gitSrc(u.fileURL(), func(g *config.Git) { g.Path = p }) }

	ok := []struct{ name, path, raw string }{
		{"default path registry.json", "", testRegistry("root")},
		{"nested path", "pkg/catalog/data/registry.json", testRegistry("deep")},
		{"leading ./ and doubled slashes", "./pkg//catalog/data/registry.json", testRegistry("deep")},
		{"symlink inside the repository", "link.json", testRegistry("deep")},
		{"symlink climbing to the root", "pkg/up.json", testRegistry("root")},
		{"symlinked directory", "pkg/dirlink/registry.json", testRegistry("deep")},
		{"invalid JSON is returned as bytes: validating is the syncer's job", "broken.json", `{"data": {"servers": [`},
		{"executable file", "run.sh", "#!/bin/sh\n"},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) { mustFetch(t, f, src(tc.path), tc.raw, head) })
	}

	bad := []struct {
		name, path string
		want       []string
	}{
		{"missing file", "nope.json", []string{"failed to get file nope.json from repository: " + u.fileURL() + " at " + head.String(), "file not found"}},
		{"missing directory", "nope/registry.json", []string{"failed to get file nope/registry.json from repository", "file not found"}},
		{"directory", "pkg", []string{"failed to get file pkg from repository", "is a directory"}},
		{"through a file", "registry.json/x", []string{"is not a directory"}},
		{"over the size limit, checked before reading", "big.json", []string{"over the size limit: 5000 bytes > 4096 bytes"}},
		{"symlink climbing out", "escape.json", []string{"symlink out of the repository (escape.json -> ../outside.json)"}},
		{"nested symlink climbing out", "pkg/escape.json", []string{"symlink out of the repository"}},
		{"absolute symlink", "absolute.json", []string{"symlink out of the repository (absolute.json -> /etc/passwd)"}},
		{"symlink loop", "loop.json", []string{"too many levels of symbolic links"}},
		{"dot-dot path", "../outside.json", []string{"registry validation failed", "escapes the repository"}},
		{"dot-dot inside the path", "pkg/../../x.json", []string{"escapes the repository"}},
		{"absolute path", "/etc/passwd", []string{"must be relative to the repository root"}},
		{"repository root", ".", []string{"names the repository root"}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			err := fetchErr(t, f, src(tc.path), tc.want...)
			var de *damagedError
			if errors.As(err, &de) {
				t.Errorf("a path problem was taken for a damaged clone: %v", err)
			}
		})
	}
}

func TestGitSharedDataFixture(t *testing.T) {
	raw, err := os.ReadFile("../../../shared/testdata/registry/upstream-registry.json")
	if errors.Is(err, os.ErrNotExist) {
		t.Skip("shared test data ../shared/testdata is not laid out beside this checkout")
	}
	if err != nil {
		t.Fatal(err)
	}
	gittest.Git(t)
	u := newUpstream(t)
	h := u.commit("main", map[string]entry{"pkg/catalog/toolhive/data/registry-upstream.json": {content: string(raw)}})
	got := mustFetch(t, &Fetcher{DataDir: t.TempDir()}, gitSrc(u.fileURL(), func(g *config.Git) {
		g.Path = "pkg/catalog/toolhive/data/registry-upstream.json"
	}), string(raw), h)
	reg, err := registry.Parse(got.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if servers, _, _ := registry.Counts(reg); servers != 12 {
		t.Errorf("%d servers, want 12", servers)
	}
}

func TestGitValidation(t *testing.T) {
	tests := []struct {
		name string
		src  config.Source
		want string
	}{
		{"empty repository", gitSrc(" ", nil), "git.repository is required"},
		{"branch and tag", gitSrc("https://example.com/r.git", func(g *config.Git) { g.Branch, g.Tag = "main", "v1" }), "git.branch, git.tag, and git.commit are mutually exclusive"},
		{"short commit", gitSrc("https://example.com/r.git", func(g *config.Git) { g.Commit = "f4da6f2" }), `git.commit must be a full commit SHA (40 hexadecimal characters), got "f4da6f2"`},
		{"sha-256 commit", gitSrc("https://example.com/r.git", func(g *config.Git) { g.Commit = strings.Repeat("a", 64) }), "SHA-256 repositories are not supported"},
		{"unsupported scheme", gitSrc("ftp://example.com/r.git", nil), `git.repository must use one of the https, http, ssh, git, file schemes, got "ftp"`},
		{"path traversal", gitSrc("https://example.com/r.git", func(g *config.Git) { g.Path = "a/../../b" }), `git.path: path "a/../../b" escapes the repository`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The fetcher refuses what validation refuses, in its words.
			c := config.Default()
			tc.src.SyncPolicy = &config.SyncPolicy{Interval: config.Duration(time.Hour)}
			c.Sources = []config.Source{tc.src}
			var ve *config.ValidationError
			if _, err := c.Validate(); !errors.As(err, &ve) || len(ve.Errs) != 1 {
				t.Fatalf("Validate() = %v, want one problem", err)
			}
			_, problem, _ := strings.Cut(ve.Errs[0].Error(), "source[0] (g): ")
			if !strings.Contains(problem, tc.want) {
				t.Fatalf("validation says %q, want %q", problem, tc.want)
			}
			for _, call := range []func() error{
				func() error { _, err := (&Fetcher{}).Fetch(bg(), tc.src); return err },
				func() error { _, err := (&Fetcher{}).Revision(bg(), tc.src); return err },
			} {
				if err := call(); err == nil || err.Error() != "registry validation failed: "+problem {
					t.Errorf("err = %v, want registry validation failed: %s", err, problem)
				}
			}
		})
	}
	t.Run("revision of a file source", func(t *testing.T) {
		if _, err := (&Fetcher{}).Revision(bg(), fileSrc("x.json")); err == nil || !strings.Contains(err.Error(), "only available for git sources") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("pinned commit needs no network", func(t *testing.T) {
		c := strings.Repeat("0a", 20)
		rev, err := (&Fetcher{}).Revision(bg(), gitSrc("https://127.0.0.1:1/nowhere.git", func(g *config.Git) { g.Commit = c }))
		if err != nil || rev != c {
			t.Errorf("Revision = %q, %v", rev, err)
		}
	})
}

// TestGitOverHTTP follows one source through the life of its repository,
// served by git http-backend, and counts what each check costs.
func TestGitOverHTTP(t *testing.T) {
	u := newUpstream(t)
	srv := newGitHTTP(t, u.root, "", "")
	c1 := u.commit("main", registryFiles(testRegistry("a")))
	f := &Fetcher{DataDir: t.TempDir()}
	src := gitSrc(srv.repoURL(u.name), func(g *config.Git) { g.Branch = "main" })

	step := func(t *testing.T, raw string, rev plumbing.Hash, wantInfoRefs, wantUploadPacks int64) {
		t.Helper()
		i0, p0 := srv.counts()
		mustFetch(t, f, src, raw, rev)
		i1, p1 := srv.counts()
		if i1-i0 != wantInfoRefs || p1-p0 != wantUploadPacks {
			t.Errorf("served %d ref listings and %d fetches, want %d and %d", i1-i0, p1-p0, wantInfoRefs, wantUploadPacks)
		}
	}

	t.Run("first fetch clones", func(t *testing.T) {
		// One listing to resolve the branch, then the fetch's own
		// listing and pack.
		step(t, testRegistry("a"), c1, 2, 1)
	})
	t.Run("unchanged remote costs one ref listing and no fetch", func(t *testing.T) {
		step(t, testRegistry("a"), c1, 1, 0)
		step(t, testRegistry("a"), c1, 1, 0)
	})

	// A change pushed with the git command, as a user would.
	work := filepath.Join(t.TempDir(), "work")
	gittest.Run(t, "", "clone", "-q", u.dir(), work)
	if err := os.WriteFile(filepath.Join(work, "registry.json"), []byte(testRegistry("a", "b")), 0o644); err != nil {
		t.Fatal(err)
	}
	gittest.Run(t, work, "commit", "-qam", "add b")
	gittest.Run(t, work, "push", "-q", "origin", "HEAD:main")
	c2 := plumbing.NewHash(gittest.Run(t, work, "rev-parse", "HEAD"))

	t.Run("a pushed commit is fetched by the next fetch", func(t *testing.T) {
		step(t, testRegistry("a", "b"), c2, 2, 1)
		rev, err := f.Revision(bg(), src)
		if err != nil || rev != c2.String() {
			t.Errorf("Revision = %s, %v; want %s", rev, err, c2)
		}
	})
	t.Run("force-push back to an older commit goes back without a fetch", func(t *testing.T) {
		gittest.Run(t, work, "push", "-qf", "origin", c1.String()+":refs/heads/main")
		step(t, testRegistry("a"), c1, 1, 0)
	})
	t.Run("force-push to a commit never fetched", func(t *testing.T) {
		gittest.Run(t, work, "checkout", "-q", "--orphan", "other")
		if err := os.WriteFile(filepath.Join(work, "registry.json"), []byte(testRegistry("z")), 0o644); err != nil {
			t.Fatal(err)
		}
		gittest.Run(t, work, "commit", "-qam", "rewrite")
		c3 := plumbing.NewHash(gittest.Run(t, work, "rev-parse", "HEAD"))
		gittest.Run(t, work, "push", "-qf", "origin", "HEAD:main")
		step(t, testRegistry("z"), c3, 2, 1)
	})
	t.Run("deleted branch is a clear error", func(t *testing.T) {
		gittest.Run(t, u.dir(), "config", "receive.denyDeleteCurrent", "ignore")
		gittest.Run(t, work, "push", "-q", "origin", "HEAD:keep", ":main")
		fetchErr(t, f, src, "failed to clone repository: "+srv.repoURL(u.name)+`: branch "main" not found in the repository`)
		// A source following the default branch learns where HEAD points.
		fetchErr(t, f, gitSrc(srv.repoURL(u.name), nil), "HEAD")

		gittest.Run(t, work, "push", "-q", "origin", ":keep")
		fetchErr(t, f, src, "list references: the repository is empty")
	})
}

func TestGitRemoteDownAndBack(t *testing.T) {
	u := newUpstream(t)
	srv := newGitHTTP(t, u.root, "", "")
	c1 := u.commit("main", registryFiles(testRegistry("a")))
	f := &Fetcher{DataDir: t.TempDir(), GitTimeout: 5 * time.Second}
	src := gitSrc(srv.repoURL(u.name), nil)
	mustFetch(t, f, src, testRegistry("a"), c1)

	srv.Close()
	err := fetchErr(t, f, src, "failed to clone repository: "+srv.repoURL(u.name)+": list references:", "connection refused")
	if _, rerr := f.Revision(bg(), src); rerr == nil {
		t.Error("Revision succeeded against a closed server")
	}
	t.Logf("remote down: %v", err)

	c2 := u.commit("main", registryFiles(testRegistry("a", "b")))
	srv.restart(t)
	mustFetch(t, f, src, testRegistry("a", "b"), c2)
}

func TestGitTimeout(t *testing.T) {
	u := newUpstream(t)
	srv := newGitHTTP(t, u.root, "", "")
	u.commit("main", registryFiles(testRegistry("a")))
	srv.stall.Store(true)
	f := &Fetcher{DataDir: t.TempDir(), GitTimeout: 200 * time.Millisecond}
	start := time.Now()
	fetchErr(t, f, gitSrc(srv.repoURL(u.name), nil), "timed out")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("gave up after %s", d)
	}
}

func TestGitAuth(t *testing.T) {
	u := newUpstream(t)
	const user, pw1, pw2 = "bot", "first-s3cret-password", "second-s3cret-password"
	srv := newGitHTTP(t, u.root, user, pw1)
	c1 := u.commit("main", registryFiles(testRegistry("a")))
	pwFile := filepath.Join(t.TempDir(), "password")
	writePW := func(pw string) {
		t.Helper()
		if err := os.WriteFile(pwFile, []byte("  "+pw+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f := &Fetcher{DataDir: t.TempDir()}
	withAuth := func(u, file string) func(*config.Git) {
		return func(g *config.Git) { g.Auth = &config.GitAuth{Username: u, PasswordFile: file} }
	}
	url := srv.repoURL(u.name)

	t.Run("no credentials", func(t *testing.T) {
		fetchErr(t, f, gitSrc(url, nil), "failed to clone repository: "+url, "authentication failed", "git.auth sets none")
	})
	t.Run("right password, trimmed", func(t *testing.T) {
		writePW(pw1)
		mustFetch(t, f, gitSrc(url, withAuth(user, pwFile)), testRegistry("a"), c1)
	})
	t.Run("wrong password", func(t *testing.T) {
		writePW("not-the-password")
		err := fetchErr(t, f, gitSrc(url, withAuth(user, pwFile)), "authentication failed", `user "bot"`)
		if strings.Contains(err.Error(), "not-the-password") {
			t.Errorf("the password is in the error: %v", err)
		}
		if !errors.Is(err, ErrAuth) {
			t.Errorf("fetch error %v is not ErrAuth", err)
		}
		if _, err := f.Revision(bg(), gitSrc(url, withAuth(user, pwFile))); !errors.Is(err, ErrAuth) {
			t.Errorf("ref listing error %v is not ErrAuth, so the poller would retry it soon", err)
		}
	})
	t.Run("rotated password is read on the next fetch", func(t *testing.T) {
		srv.password.Store(pw2)
		writePW(pw2)
		c2 := u.commit("main", registryFiles(testRegistry("a", "b")))
		mustFetch(t, f, gitSrc(url, withAuth(user, pwFile)), testRegistry("a", "b"), c2)
		if _, err := f.Revision(bg(), gitSrc(url, withAuth(user, pwFile))); err != nil {
			t.Error(err)
		}
	})
	t.Run("unreadable password file", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "absent")
		fetchErr(t, f, gitSrc(url, withAuth(user, missing)), "failed to get git password: "+url+": failed to read git password:", "absent")
		if _, err := f.Revision(bg(), gitSrc(url, withAuth(user, missing))); err == nil || !strings.Contains(err.Error(), "failed to get git password") {
			t.Errorf("Revision err = %v", err)
		}
	})
	t.Run("relative password file", func(t *testing.T) {
		fetchErr(t, f, gitSrc(url, withAuth(user, "password")), "failed to get git password", "must be an absolute path")
	})
	t.Run("credentials in the URL never show in errors", func(t *testing.T) {
		secretURL := strings.Replace(url, "http://", "http://bot:url-s3cret-token@", 1)
		srv.password.Store("something-else")
		err := fetchErr(t, f, gitSrc(secretURL, nil), "authentication failed", "failed to clone repository: "+url)
		if strings.Contains(err.Error(), "url-s3cret-token") || strings.Contains(err.Error(), "bot:") {
			t.Errorf("credentials in the error: %v", err)
		}
		srv.Close()
		err = fetchErr(t, f, gitSrc(secretURL, nil), "connection refused")
		if strings.Contains(err.Error(), "url-s3cret-token") || strings.Contains(err.Error(), "bot:") {
			t.Errorf("credentials in the error: %v", err)
		}
	})
}

func TestGitSharedClone(t *testing.T) {
	u := newUpstream(t)
	srv := newGitHTTP(t, u.root, "", "")
	h := u.commit("main", map[string]entry{
		"a/registry.json": {content: testRegistry("a")},
		"b/registry.json": {content: testRegistry("b")},
	})
	f := &Fetcher{DataDir: t.TempDir()}
	url := srv.repoURL(u.name)
	a := gitSrc(url, func(g *config.Git) { g.Path = "a/registry.json" })
	b := gitSrc(url+"/", func(g *config.Git) { g.Path = "b/registry.json"; g.Branch = "main" })

	mustFetch(t, f, a, testRegistry("a"), h)
	_, packs0 := srv.counts()
	mustFetch(t, f, b, testRegistry("b"), h)
	if _, packs1 := srv.counts(); packs1 != packs0 {
		t.Errorf("the second source fetched again (%d fetches), want it read from the shared clone", packs1-packs0)
	}
	if got := clonesIn(t, f.DataDir); len(got) != 1 {
		t.Errorf("clones %v, want one", got)
	}

	t.Run("concurrent fetches of one repository", func(t *testing.T) {
		h2 := u.commit("main", map[string]entry{
			"a/registry.json": {content: testRegistry("a2")},
			"b/registry.json": {content: testRegistry("b2")},
		})
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				src, want := a, testRegistry("a2")
				if i%2 == 1 {
					src, want = b, testRegistry("b2")
				}
				got, err := f.Fetch(bg(), src)
				switch {
				case err != nil:
					errs <- err
				case string(got.Raw) != want || got.Revision != h2.String():
					errs <- errors.New("wrong content or revision: " + got.Revision)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

func TestGitDaemon(t *testing.T) {
	u := newUpstream(t)
	base := startGitDaemon(t, u.root)
	c1 := u.commit("main", registryFiles(testRegistry("a")))
	u.annotatedTag("v1", c1)
	f := &Fetcher{DataDir: t.TempDir()}
	src := gitSrc(base+"/"+u.name, nil)
	mustFetch(t, f, src, testRegistry("a"), c1)
	mustFetch(t, f, src, testRegistry("a"), c1)
	c2 := u.commit("main", registryFiles(testRegistry("a", "b")))
	mustFetch(t, f, src, testRegistry("a", "b"), c2)
	mustFetch(t, f, gitSrc(base+"/"+u.name, func(g *config.Git) { g.Tag = "v1" }), testRegistry("a"), c1)
	if rev, err := f.Revision(bg(), src); err != nil || rev != c2.String() {
		t.Errorf("Revision = %s, %v", rev, err)
	}
	fetchErr(t, f, gitSrc(base+"/nope.git", nil), "failed to clone repository: "+base+"/nope.git")
}

// TestGitPinnedCommit fetches a commit that no ref points at any more,
// from a server that serves only its refs' tips (git's default) and from
// one that serves any reachable commit.
func TestGitPinnedCommit(t *testing.T) {
	for _, allow := range []bool{false, true} {
		name := "server serves only ref tips: full fetch"
		if allow {
			name = "server serves reachable commits: fetch by id"
		}
		t.Run(name, func(t *testing.T) {
			u := newUpstream(t)
			if allow {
				gittest.Run(t, u.dir(), "config", "uploadpack.allowReachableSHA1InWant", "true")
			}
			srv := newGitHTTP(t, u.root, "", "")
			old := u.commit("main", registryFiles(testRegistry("old")))
			u.commit("main", registryFiles(testRegistry("mid")))
			tip := u.commit("main", registryFiles(testRegistry("new")))
			f := &Fetcher{DataDir: t.TempDir()}
			url := srv.repoURL(u.name)
			// A branch source first makes the shared clone shallow.
			mustFetch(t, f, gitSrc(url, nil), testRegistry("new"), tip)
			mustFetch(t, f, gitSrc(url, func(g *config.Git) { g.Commit = old.String() }), testRegistry("old"), old)
			i0, p0 := srv.counts()
			mustFetch(t, f, gitSrc(url, func(g *config.Git) { g.Commit = old.String() }), testRegistry("old"), old)
			if i1, p1 := srv.counts(); i1 != i0 || p1 != p0 {
				t.Errorf("a pinned commit already in the clone cost %d listings and %d fetches, want none", i1-i0, p1-p0)
			}
			fetchErr(t, f, gitSrc(url, func(g *config.Git) { g.Commit = strings.Repeat("1", 40) }), "failed to clone repository: "+url)
		})
	}
}

func TestGitCloneSizeLimit(t *testing.T) {
	gittest.Git(t)
	u := newUpstream(t)
	var b strings.Builder
	for i := range 20000 {
		b.WriteString(plumbing.ComputeHash(plumbing.BlobObject, []byte{byte(i), byte(i >> 8)}).String())
	}
	u.commit("main", registryFiles(b.String()))
	f := &Fetcher{DataDir: t.TempDir(), MaxCloneSize: 64 << 10, MaxSize: 10 << 20}
	fetchErr(t, f, gitSrc(u.fileURL(), nil), "failed to clone repository: "+u.fileURL(), "size limit of 65536 bytes")
	if got := clonesIn(t, f.DataDir); len(got) != 0 {
		t.Errorf("the refused clone was kept: %v", got)
	}
}

// TestGitDamagedClone damages the kept clone in the ways a crash or a
// full disk can, and checks the next fetch rebuilds it transparently.
func TestGitDamagedClone(t *testing.T) {
	gittest.Git(t)
	// rebuilt says whether the damage is detected and the clone rebuilt;
	// otherwise the clone heals by fetching what it lacks.
	damage := []struct {
		name    string
		do      func(t *testing.T, dir string)
		rebuilt bool
	}{
		{"garbage HEAD", func(t *testing.T, dir string) { writeFile(t, filepath.Join(dir, "HEAD"), "garbage") }, true},
		{"HEAD removed", func(t *testing.T, dir string) { removeFiles(t, dir, "HEAD") }, true},
		{"config garbage", func(t *testing.T, dir string) { writeFile(t, filepath.Join(dir, "config"), "[core\nnot ini") }, true},
		{"pack files removed", func(t *testing.T, dir string) { removeFiles(t, dir, "objects/pack/*.pack") }, false},
		{"pack indexes removed", func(t *testing.T, dir string) { removeFiles(t, dir, "objects/pack/*.idx") }, true},
		{"every object removed", func(t *testing.T, dir string) { removeFiles(t, dir, "objects/pack/*") }, false},
		{"packs truncated", func(t *testing.T, dir string) { truncateFiles(t, dir, "objects/pack/*.pack", 40) }, true},
		{"pack indexes truncated", func(t *testing.T, dir string) { truncateFiles(t, dir, "objects/pack/*.idx", 10) }, true},
		{"packs overwritten with zeros", func(t *testing.T, dir string) { zeroFiles(t, dir, "objects/pack/*.pack") }, true},
		{"shallow file garbage", func(t *testing.T, dir string) { writeFile(t, filepath.Join(dir, "shallow"), "zz\n") }, false},
		{"only an empty directory left", func(t *testing.T, dir string) { removeFiles(t, dir, "*") }, false},
	}
	for _, d := range damage {
		t.Run(d.name, func(t *testing.T) {
			u := newUpstream(t)
			srv := newGitHTTP(t, u.root, "", "")
			c1 := u.commit("main", map[string]entry{
				"registry.json": {content: testRegistry("a")},
				"other.json":    {content: testRegistry("o")},
			})
			var logs testsupport.Buffer
			f := &Fetcher{DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(&logs, nil))}
			src := gitSrc(srv.repoURL(u.name), nil)
			mustFetch(t, f, src, testRegistry("a"), c1)
			clones := clonesIn(t, f.DataDir)
			if len(clones) != 1 {
				t.Fatalf("clones %v", clones)
			}
			d.do(t, filepath.Join(f.DataDir, clones[0]))
			// The same commit, then a new one, both read right.
			mustFetch(t, f, src, testRegistry("a"), c1)
			if got := logs.Contains("rebuilding"); got != d.rebuilt {
				t.Errorf("rebuilt = %v, want %v; log:\n%s", got, d.rebuilt, logs.String())
			}
			if logs.Count("rebuilding") > 1 {
				t.Errorf("rebuilt more than once:\n%s", logs.String())
			}
			c2 := u.commit("main", registryFiles(testRegistry("a", "b")))
			mustFetch(t, f, src, testRegistry("a", "b"), c2)
		})
	}
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	_ = os.Chmod(p, 0o644)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func globAll(t *testing.T, dir, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil || len(m) == 0 {
		t.Fatalf("nothing matches %s in %s (%v)", pattern, dir, err)
	}
	return m
}

func removeFiles(t *testing.T, dir, pattern string) {
	t.Helper()
	for _, p := range globAll(t, dir, pattern) {
		if err := os.RemoveAll(p); err != nil {
			t.Fatal(err)
		}
	}
}

func truncateFiles(t *testing.T, dir, pattern string, size int64) {
	t.Helper()
	for _, p := range globAll(t, dir, pattern) {
		_ = os.Chmod(p, 0o644)
		if err := os.Truncate(p, size); err != nil {
			t.Fatal(err)
		}
	}
}

func zeroFiles(t *testing.T, dir, pattern string) {
	t.Helper()
	for _, p := range globAll(t, dir, pattern) {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, p, strings.Repeat("\x00", int(info.Size())))
	}
}

func TestGitCancelledContext(t *testing.T) {
	gittest.Git(t)
	u := newUpstream(t)
	u.commit("main", registryFiles(testRegistry("a")))
	ctx, cancel := context.WithCancel(bg())
	cancel()
	if _, err := (&Fetcher{DataDir: t.TempDir()}).Fetch(ctx, gitSrc(u.fileURL(), nil)); err == nil {
		t.Error("fetched with a cancelled context")
	}
}

func TestGitGrownCloneStartsAfresh(t *testing.T) {
	gittest.Git(t)
	u := newUpstream(t)
	var logs testsupport.Buffer
	f := &Fetcher{DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	src := gitSrc(u.fileURL(), nil)
	for i := range maxPacks + 4 {
		raw := testRegistry(strings.Repeat("x", i+1))
		h := u.commit("main", registryFiles(raw))
		mustFetch(t, f, src, raw, h)
		clones := clonesIn(t, f.DataDir)
		_, packs, err := cloneUsage(filepath.Join(f.DataDir, clones[0]))
		if err != nil {
			t.Fatal(err)
		}
		if packs > maxPacks+1 {
			t.Fatalf("fetch %d: %d packs, want at most %d", i, packs, maxPacks+1)
		}
	}
	if !logs.Contains("starting it afresh") {
		t.Errorf("the clone never started afresh; log:\n%s", logs.String())
	}
}

// Seen tells the commits a remote served before (a replayed push) from a
// commit not fetched yet (a push the remote does not serve yet).
func TestGitSeen(t *testing.T) {
	u := newUpstream(t)
	srv := newGitHTTP(t, u.root, "", "")
	src := gitSrc(srv.repoURL(u.name), func(g *config.Git) { g.Branch = "main" })
	f := &Fetcher{DataDir: t.TempDir()}
	if f.Seen(bg(), src, u.commit("main", registryFiles(testRegistry("a"))).String()) {
		t.Error("seen before any fetch")
	}
	first := u.commit("main", registryFiles(testRegistry("b")))
	mustFetch(t, f, src, testRegistry("b"), first)
	second := u.commit("main", registryFiles(testRegistry("c")))
	mustFetch(t, f, src, testRegistry("c"), second)
	unfetched := u.commit("main", registryFiles(testRegistry("d")))

	cases := []struct {
		name     string
		fetcher  *Fetcher
		revision string
		want     bool
	}{
		{"a commit fetched for an earlier sync", f, first.String(), true},
		{"the commit fetched last", f, second.String(), true},
		{"a commit pushed but not fetched yet", f, unfetched.String(), false},
		{"not a commit id", f, "main", false},
		{"without a kept clone", &Fetcher{}, first.String(), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.fetcher.Seen(bg(), src, tc.revision); got != tc.want {
				t.Errorf("Seen(%s) = %v, want %v", tc.revision, got, tc.want)
			}
		})
	}
}
