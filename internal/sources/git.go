package sources

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/redact"
	"github.com/regsync/regsync/internal/registry"
)

// DefaultGitTimeout bounds one git network operation (a reference listing
// or a fetch) when Fetcher.GitTimeout is not set.
const DefaultGitTimeout = 60 * time.Second

// gitSource is a git source's configuration, checked.
type gitSource struct {
	url      string // as configured; may carry credentials
	redacted string
	ep       *transport.Endpoint
	branch   string
	tag      string
	commit   plumbing.Hash // zero unless pinned
	path     string
	auth     *config.GitAuth
}

func parseGitSource(g *config.Git) (*gitSource, error) {
	if g == nil {
		return nil, errors.New("registry validation failed: git configuration is required")
	}
	// The rules and words of validation (see config.CheckGitRepository),
	// for a configuration that did not go through it.
	invalid := func(err error) error { return fmt.Errorf("registry validation failed: %w", err) }
	ep, err := config.CheckGitRepository(g.Repository)
	if err != nil {
		return nil, invalid(err)
	}
	if err := config.CheckGitRefs(g.Branch, g.Tag, g.Commit); err != nil {
		return nil, invalid(err)
	}
	gs := &gitSource{url: g.Repository, redacted: redact.URL(g.Repository), branch: g.Branch, tag: g.Tag, auth: g.Auth}
	if g.Commit != "" {
		if err := config.CheckGitCommit(g.Commit); err != nil {
			return nil, invalid(err)
		}
		gs.commit = plumbing.NewHash(g.Commit)
	}
	p := g.Path
	if p == "" {
		p = config.DefaultGitPath
	}
	clean, err := cleanGitPath(p)
	if err != nil {
		return nil, invalid(fmt.Errorf("git.path: %w", err))
	}
	gs.path = clean
	if (ep.Protocol == "http" || ep.Protocol == "https") && !strings.ContainsAny(gs.url, "?#") {
		// git http-backend and others refuse "x.git//info/refs".
		gs.url = strings.TrimRight(gs.url, "/")
	}
	gs.ep = ep
	return gs, nil
}

// gitTarget is what a source wants from its repository.
type gitTarget struct {
	// remote is the ref fetched ("" for a pinned commit) and local the ref
	// the clone keeps it under.
	remote, local plumbing.ReferenceName
	// want is the object the ref points at, peeled to its commit when the
	// server says (annotated tags); for a pinned commit, the commit.
	want plumbing.Hash
}

func (f *Fetcher) gitTimeout() time.Duration {
	if f.GitTimeout > 0 {
		return f.GitTimeout
	}
	return DefaultGitTimeout
}

func (f *Fetcher) maxCloneSize() int64 {
	if f.MaxCloneSize > 0 {
		return f.MaxCloneSize
	}
	return DefaultMaxCloneSize
}

func (f *Fetcher) logger() *slog.Logger {
	if f.Logger != nil {
		return f.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Revision returns the commit a git source's ref points at, with one
// reference listing and nothing fetched: the cheap check a poller makes.
// A pinned commit is returned as configured, without any network call. An
// annotated tag is peeled to its commit when the server lists the peeled
// value, as git servers do.
func (f *Fetcher) Revision(ctx context.Context, src config.Source) (string, error) {
	if src.Git == nil {
		return "", fmt.Errorf("source %s: revision checks are only available for git sources", src.Name)
	}
	gs, err := parseGitSource(src.Git)
	if err != nil {
		return "", err
	}
	if !gs.commit.IsZero() {
		return gs.commit.String(), nil
	}
	password, err := gitPassword(gs.auth)
	if err != nil {
		return "", newRedactor(gs.url).err(fmt.Errorf("failed to get git password: %s: %w", gs.redacted, err))
	}
	red := newRedactor(gs.url, password)
	auth, err := gitAuthMethod(gs.auth, gs.ep, password, f.gitTimeout())
	if err != nil {
		return "", red.err(fmt.Errorf("failed to resolve revision: %s: %w", gs.redacted, err))
	}
	t, err := f.listTarget(ctx, gs, auth)
	if err != nil {
		return "", red.err(fmt.Errorf("failed to resolve revision: %s: %w", gs.redacted, err))
	}
	return t.want.String(), nil
}

// Seen reports whether a git source's remote served the commit revision
// before: the kept clone holds it, as a commit fetched for an earlier sync.
// It makes no network call; without a kept clone (no DataDir) it reports
// false. A commit a forge announces that was seen before is no longer news:
// a push replayed after the source moved on.
func (f *Fetcher) Seen(ctx context.Context, src config.Source, revision string) bool {
	if src.Git == nil || f.DataDir == "" || !plumbing.IsHash(revision) {
		return false
	}
	gs, err := parseGitSource(src.Git)
	if err != nil {
		return false
	}
	key := cloneKey(gs.ep)
	dir := filepath.Join(f.DataDir, "git", key)
	if _, err := os.Stat(dir); err != nil {
		return false
	}
	unlock, err := f.repoLock(ctx, key)
	if err != nil {
		return false
	}
	defer unlock()
	c, err := openClone(dir, f.maxCloneSize())
	if err != nil {
		return false
	}
	defer c.close()
	h, err := peel(c.st, plumbing.NewHash(revision))
	return err == nil && !h.IsZero()
}

// fetchGit returns the registry file of a git source at the commit its ref
// points at now. Cheap first: one reference listing (none for a pinned
// commit) tells the commit; when the kept clone already has it, the file is
// read from it with no fetch. Otherwise the ref alone is fetched, depth 1,
// into the clone. The file is always read from the commit's tree.
func (f *Fetcher) fetchGit(ctx context.Context, g *config.Git, limit int64) (*Fetched, error) {
	gs, err := parseGitSource(g)
	if err != nil {
		return nil, err
	}
	password, err := gitPassword(gs.auth)
	if err != nil {
		return nil, newRedactor(gs.url).err(fmt.Errorf("failed to get git password: %s: %w", gs.redacted, err))
	}
	red := newRedactor(gs.url, password)
	auth, err := gitAuthMethod(gs.auth, gs.ep, password, f.gitTimeout())
	if err != nil {
		return nil, red.err(fmt.Errorf("failed to clone repository: %s: %w", gs.redacted, err))
	}

	t := gitTarget{want: gs.commit, local: plumbing.ReferenceName("refs/regsync/commits/" + gs.commit.String())}
	if gs.commit.IsZero() {
		if t, err = f.listTarget(ctx, gs, auth); err != nil {
			return nil, red.err(fmt.Errorf("failed to clone repository: %s: %w", gs.redacted, err))
		}
	}

	dir := ""
	if f.DataDir == "" {
		// No place to keep clones: clone into a temporary directory for
		// this fetch alone.
		if dir, err = os.MkdirTemp("", "regsync-git-"); err != nil {
			return nil, fmt.Errorf("failed to clone repository: %s: %w", gs.redacted, err)
		}
		defer os.RemoveAll(dir)
	} else {
		key := cloneKey(gs.ep)
		dir = filepath.Join(f.DataDir, "git", key)
		if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
			return nil, fmt.Errorf("failed to clone repository: %s: %w", gs.redacted, err)
		}
		unlock, err := f.repoLock(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("failed to clone repository: %s: wait for the clone: %w", gs.redacted, err)
		}
		defer unlock()
	}

	var fetched *Fetched
	for attempt := 0; ; attempt++ {
		fetched, err = f.syncClone(ctx, dir, gs, auth, t, limit)
		var damaged *damagedError
		if !errors.As(err, &damaged) {
			break
		}
		if attempt > 0 {
			err = fmt.Errorf("failed to clone repository: %s: %w", gs.redacted, damaged.err)
			break
		}
		f.logger().Warn("rebuilding git clone", "repository", gs.redacted, "dir", dir, "reason", red.err(damaged.err).Error())
		if err = os.RemoveAll(dir); err != nil {
			err = fmt.Errorf("failed to clone repository: %s: remove damaged clone: %w", gs.redacted, err)
			break
		}
	}
	if err != nil {
		return nil, red.err(err)
	}
	return fetched, nil
}

// damagedError is a clone that cannot be used as it is: its files are
// missing, truncated or not a repository. The clone is rebuilt.
type damagedError struct{ err error }

func (e *damagedError) Error() string { return "damaged clone: " + e.err.Error() }
func (e *damagedError) Unwrap() error { return e.err }

// errNotInClone says the clone lacks the commit asked for: fetch it.
var errNotInClone = errors.New("commit not in the clone")

// syncClone reads the target from the clone in dir, fetching first if the
// clone lacks it. A *damagedError asks the caller to rebuild the clone.
func (f *Fetcher) syncClone(ctx context.Context, dir string, gs *gitSource, auth transport.AuthMethod, t gitTarget, limit int64) (*Fetched, error) {
	c, err := openClone(dir, f.maxCloneSize())
	if err != nil {
		return nil, &damagedError{fmt.Errorf("open %s: %w", dir, err)}
	}
	defer func() { c.close() }()

	if !t.want.IsZero() {
		fetched, err := c.read(gs, t.want, limit)
		if !errors.Is(err, errNotInClone) {
			return fetched, err
		}
	}

	if !c.fresh && (c.size > c.limit/2 || c.packs > maxPacks) {
		// Start afresh rather than let the clone grow: a depth-1 fetch
		// costs about the same into an empty clone.
		f.logger().Info("git clone has grown, starting it afresh", "repository", gs.redacted, "dir", dir, "bytes", c.size, "packs", c.packs)
		c.close()
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("failed to clone repository: %s: remove grown clone: %w", gs.redacted, err)
		}
		if c, err = openClone(dir, f.maxCloneSize()); err != nil {
			return nil, fmt.Errorf("failed to clone repository: %s: %w", gs.redacted, err)
		}
	}

	commit, err := c.fetch(ctx, gs, auth, t, f.gitTimeout())
	f.check(CheckGitFetch, err)
	tooLarge := c.tooLarge()
	switch {
	case err == nil && !tooLarge:
	case tooLarge:
		c.close()
		_ = os.RemoveAll(dir)
		if !c.fresh {
			// The history kept may be what is too large: try once afresh.
			return nil, &damagedError{&cloneTooLargeError{limit: c.limit}}
		}
		return nil, fmt.Errorf("failed to clone repository: %s: %w", gs.redacted, &cloneTooLargeError{limit: c.limit})
	case isRemoteError(err) || c.fresh:
		return nil, fmt.Errorf("failed to clone repository: %s: %w", gs.redacted, describeRemoteError(err, gs, f.gitTimeout()))
	default:
		return nil, &damagedError{err}
	}

	fetched, err := c.read(gs, commit, limit)
	if errors.Is(err, errNotInClone) {
		if !gs.commit.IsZero() {
			return nil, fmt.Errorf("failed to clone repository: %s: commit %s not found in the repository", gs.redacted, gs.commit)
		}
		return nil, &damagedError{fmt.Errorf("commit %s missing after fetching it", commit)}
	}
	return fetched, err
}

// read returns the configured file at the commit h (or the tag h peels to).
// errNotInClone means the clone does not have h; a *damagedError means it
// has h but cannot read what h needs.
func (c *clone) read(gs *gitSource, h plumbing.Hash, limit int64) (*Fetched, error) {
	commitHash, err := peel(c.st, h)
	var re *refError
	if errors.As(err, &re) {
		return nil, fmt.Errorf("failed to clone repository: %s: %w", gs.redacted, re)
	}
	if err != nil {
		return nil, err
	}
	commit, err := object.GetCommit(c.st, commitHash)
	if err != nil {
		return nil, &damagedError{fmt.Errorf("read commit %s: %w", commitHash, err)}
	}
	tree, err := commit.Tree()
	if err != nil {
		return nil, &damagedError{fmt.Errorf("read tree of commit %s: %w", commitHash, err)}
	}
	entry, err := resolveFile(c.st, tree, gs.path)
	if err == nil {
		var raw []byte
		if raw, err = readBlob(c.st, entry, gs.path, limit); err == nil {
			return &Fetched{Raw: raw, Hash: registry.Hash(raw), Revision: commitHash.String()}, nil
		}
	}
	var pe *pathError
	if errors.As(err, &pe) {
		return nil, fmt.Errorf("failed to get file %s from repository: %s at %s: %w", gs.path, gs.redacted, commitHash, pe)
	}
	return nil, &damagedError{err}
}

// refError is a ref that does not lead to a commit: the source's to fix.
type refError struct{ msg string }

func (e *refError) Error() string { return e.msg }

// peel follows tag objects from h to the commit they name. errNotInClone
// means an object on the way is not in the clone.
func peel(c storer.EncodedObjectStorer, h plumbing.Hash) (plumbing.Hash, error) {
	for range 10 {
		obj, err := c.EncodedObject(plumbing.AnyObject, h)
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			return plumbing.ZeroHash, errNotInClone
		}
		if err != nil {
			return plumbing.ZeroHash, &damagedError{fmt.Errorf("read object %s: %w", h, err)}
		}
		switch obj.Type() {
		case plumbing.CommitObject:
			return h, nil
		case plumbing.TagObject:
			tag, err := object.DecodeTag(c, obj)
			if err != nil {
				return plumbing.ZeroHash, &damagedError{fmt.Errorf("read tag %s: %w", h, err)}
			}
			h = tag.Target
		default:
			return plumbing.ZeroHash, &refError{fmt.Sprintf("%s is a %s, not a commit", h, obj.Type())}
		}
	}
	return plumbing.ZeroHash, &refError{fmt.Sprintf("%s: too many nested tags", h)}
}

// listTarget resolves the source's ref with one reference listing.
func (f *Fetcher) listTarget(ctx context.Context, gs *gitSource, auth transport.AuthMethod) (gitTarget, error) {
	ctx, cancel := context.WithTimeout(ctx, f.gitTimeout())
	defer cancel()
	remote := git.NewRemote(memory.NewStorage(), &gitconfig.RemoteConfig{Name: "origin", URLs: []string{gs.url}})
	refs, err := remote.ListContext(ctx, &git.ListOptions{Auth: auth, PeelingOption: git.AppendPeeled})
	f.check(CheckGitLsRemote, err)
	if err != nil {
		return gitTarget{}, fmt.Errorf("list references: %w", describeRemoteError(err, gs, f.gitTimeout()))
	}
	byName := make(map[plumbing.ReferenceName]*plumbing.Reference, len(refs))
	for _, r := range refs {
		byName[r.Name()] = r
	}
	var name plumbing.ReferenceName
	switch {
	case gs.branch != "":
		name = plumbing.NewBranchReferenceName(gs.branch)
		if byName[name] == nil {
			return gitTarget{}, fmt.Errorf("branch %q not found in the repository", gs.branch)
		}
	case gs.tag != "":
		name = plumbing.NewTagReferenceName(gs.tag)
		if byName[name] == nil {
			return gitTarget{}, fmt.Errorf("tag %q not found in the repository", gs.tag)
		}
	default:
		head := byName[plumbing.HEAD]
		switch {
		case head == nil:
			return gitTarget{}, errors.New("the repository has no HEAD (is it empty?)")
		case head.Type() == plumbing.SymbolicReference:
			name = head.Target()
			if byName[name] == nil {
				return gitTarget{}, fmt.Errorf("the repository's HEAD points at %s, which does not exist", name)
			}
		default:
			return gitTarget{remote: plumbing.HEAD, local: "refs/regsync/HEAD", want: head.Hash()}, nil
		}
	}
	want := byName[name].Hash()
	if peeled := byName[name+"^{}"]; peeled != nil {
		want = peeled.Hash()
	}
	return gitTarget{remote: name, local: name, want: want}, nil
}

// fetch brings the target into the clone and returns the object fetched.
// A ref is fetched alone at depth 1. A pinned commit is fetched by its id
// when the server allows it, else every branch and tag is fetched with
// full history.
func (c *clone) fetch(ctx context.Context, gs *gitSource, auth transport.AuthMethod, t gitTarget, timeout time.Duration) (plumbing.Hash, error) {
	remote := git.NewRemote(c.fetchStorer(gs.ep.Protocol), &gitconfig.RemoteConfig{Name: "origin", URLs: []string{gs.url}})
	var spec gitconfig.RefSpec
	if t.remote != "" {
		spec = gitconfig.RefSpec("+" + t.remote + ":" + t.local)
	} else {
		spec = gitconfig.RefSpec("+" + gs.commit.String() + ":" + t.local.String())
	}
	err := fetchWithin(ctx, timeout, remote, &git.FetchOptions{
		RefSpecs: []gitconfig.RefSpec{spec}, Depth: 1, Auth: auth, Tags: git.NoTags, Force: true,
	})
	if t.remote == "" && errors.Is(err, git.ErrExactSHA1NotSupported) {
		depth := 0
		if shallow, _ := c.st.Shallow(); len(shallow) > 0 {
			// A shallow clone must ask for the history it lacks.
			depth = math.MaxInt32
		}
		err = fetchWithin(ctx, timeout, remote, &git.FetchOptions{
			RefSpecs: []gitconfig.RefSpec{"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"},
			Depth:    depth, Auth: auth, Tags: git.NoTags, Force: true,
		})
	}
	if err != nil {
		if t.remote != "" {
			return plumbing.ZeroHash, fmt.Errorf("fetch %s: %w", t.remote, err)
		}
		return plumbing.ZeroHash, fmt.Errorf("fetch commit %s: %w", gs.commit, err)
	}
	if t.remote == "" {
		return gs.commit, nil
	}
	ref, err := c.st.Reference(t.local)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("read fetched ref %s: %w", t.local, err)
	}
	return ref.Hash(), nil
}

func fetchWithin(ctx context.Context, timeout time.Duration, remote *git.Remote, opts *git.FetchOptions) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := remote.FetchContext(ctx, opts)
	if errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil
	}
	return err
}

// isRemoteError reports whether a failed fetch is the remote's or the
// network's doing, as opposed to a problem with the local clone.
func isRemoteError(err error) bool {
	var (
		netErr     net.Error
		urlErr     *url.Error
		httpErr    *githttp.Err
		unexpected *plumbing.UnexpectedError
		noMatch    git.NoMatchingRefSpecError
	)
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired),
		errors.Is(err, transport.ErrAuthorizationFailed),
		errors.Is(err, transport.ErrRepositoryNotFound),
		errors.Is(err, transport.ErrEmptyRemoteRepository),
		errors.Is(err, transport.ErrInvalidAuthMethod),
		errors.Is(err, git.ErrExactSHA1NotSupported),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, context.Canceled),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.As(err, &netErr),
		errors.As(err, &urlErr),
		errors.As(err, &httpErr),
		errors.As(err, &unexpected),
		errors.As(err, &noMatch):
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "ssh: ") || strings.Contains(msg, "knownhosts: ")
}

// ErrAuth marks a remote that refused the credentials: retrying soon will
// not help.
var ErrAuth = errors.New("authentication failed")

// describeRemoteError puts what a remote failure means in front of it.
func describeRemoteError(err error, gs *gitSource, timeout time.Duration) error {
	msg := err.Error()
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed):
		if gs.auth == nil || gs.auth.Username == "" {
			return fmt.Errorf("%w: the repository needs credentials and git.auth sets none: %w", ErrAuth, err)
		}
		return fmt.Errorf("%w for user %q: check git.auth.passwordFile: %w", ErrAuth, gs.auth.Username, err)
	case strings.Contains(msg, "unable to authenticate"):
		return fmt.Errorf("%w: the ssh server refused the credentials: %w", ErrAuth, err)
	case strings.Contains(msg, "knownhosts: "):
		return fmt.Errorf("host key verification failed (git.auth.knownHostsFile): %w", err)
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return fmt.Errorf("the repository is empty: it has no branches or tags: %w", err)
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return fmt.Errorf("repository not found, or not visible with these credentials: %w", err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("timed out (a git operation may take up to %s): %w", timeout, err)
	}
	return err
}
