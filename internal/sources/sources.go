package sources

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/regsync/regsync/internal/config"
)

// Fetched is what a source holds right now.
type Fetched struct {
	// Raw is the registry document as fetched.
	Raw []byte
	// Hash is the lowercase hex SHA-256 of Raw for file, file.url and git
	// sources; for api sources it is the SHA-256 of the data object alone
	// (see fetchAPI). Raw may be shared with the Fetcher's cache: do not
	// modify it.
	Hash string
	// Revision names what was fetched: the file digest for files and
	// file.url (equal to Hash), the commit SHA for git, Hash for api.
	Revision string

	// path and info describe the local file read, for Stale.
	path string
	info fs.FileInfo
}

// Stale reports whether what was fetched is no longer what the source
// holds, as far as can be told without reading it again: a local file
// (file.path) that changed since it was read, or that is gone. A writer
// can leave a file cut short at the moment it is read and finish it just
// after; data that fails validation is worth reading again when the file
// is stale. Other sources report false.
func (f *Fetched) Stale() bool {
	return f.info != nil && !sameFile(f.info, statOrNil(f.path))
}

// Fetcher fetches any configured source. It is safe for concurrent use;
// it must not be copied after first use.
type Fetcher struct {
	// MaxSize is the largest document accepted, in bytes
	// (sync.maxDataSize; its default when zero).
	MaxSize int64
	// DataDir keeps one bare clone per git repository, under
	// DataDir/git/. Empty means no cache: every git fetch clones into a
	// temporary directory and removes it.
	DataDir string
	// GitTimeout bounds each git network operation (a reference listing,
	// a fetch); DefaultGitTimeout when zero.
	GitTimeout time.Duration
	// MaxCloneSize bounds a git clone on disk, in bytes;
	// DefaultMaxCloneSize when zero.
	MaxCloneSize int64
	// Logger receives what a fetch does on the side, such as rebuilding
	// a damaged clone or a warning that TLS is not verified; nil discards
	// it.
	Logger *slog.Logger
	// Version is sent in the User-Agent header of HTTP requests as
	// regsync/<Version>; "dev" when empty.
	Version string
	// Checks, if set, counts every request made to a source by kind and
	// outcome (see NewCheckMetrics).
	Checks *prometheus.CounterVec

	mu    sync.Mutex
	locks map[string]chan struct{} // per clone, see repoLock

	files             map[string]*cachedFile // file.url → last 200 answer
	apiChecks         map[string]time.Time   // api source → time of its last check
	httpTransport     *http.Transport
	insecureTransport *http.Transport
	maxAPIPages       int // 0: maxAPIPages; tests lower it
	// afterFileRead, when set, runs after a local file is read and
	// before it is checked for a writer that overlapped the read; tests
	// write there.
	afterFileRead func(path string)
}

// Fetch returns the source's current bytes. An error names no
// credentials: every URL it quotes is redacted (see package redact), as
// the message reaches logs, the status record and sync.failed events.
func (f *Fetcher) Fetch(ctx context.Context, src config.Source) (*Fetched, error) {
	fetched, err := f.fetch(ctx, src)
	return fetched, scrub(err)
}

func (f *Fetcher) fetch(ctx context.Context, src config.Source) (*Fetched, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	limit := f.maxSize()
	switch {
	case src.File != nil && src.File.Path != "":
		fetched, err := f.fetchFile(ctx, src.File.Path, limit)
		f.check(CheckFile, err)
		return fetched, err
	case src.File != nil && src.File.URL != "":
		return f.fetchURL(ctx, src, limit)
	case src.API != nil:
		return f.fetchAPI(ctx, src, limit)
	case src.Git != nil:
		return f.fetchGit(ctx, src.Git, limit)
	case src.Type() == "":
		return nil, fmt.Errorf("unable to determine source type of %s", src.Name)
	default:
		return nil, fmt.Errorf("%s sources are not synced by regsync", src.Type())
	}
}

func (f *Fetcher) maxSize() int64 {
	if f.MaxSize > 0 {
		return f.MaxSize
	}
	return config.Default().Sync.MaxDataSize.Int64()
}

// Changed is the cheap check of an api or file.url source, for a poller.
//
// For file.url it is a conditional GET (If-None-Match, If-Modified-Since):
// 304 means unchanged and nothing is downloaded; a 200 answer is kept for
// the next Fetch, and the change is reported when its digest differs from
// the kept one. revision is then the body's digest, as Fetch reports it.
//
// For api it asks for at most one server updated since the previous
// check; any server in the answer is a change. revision is always empty:
// the api hash needs the whole listing, which the worker fetches. The
// first check of a source reports a change.
//
// A 429 or 503 answer with Retry-After is an *HTTPError carrying the
// wait; see RetryAfter.
func (f *Fetcher) Changed(ctx context.Context, src config.Source) (changed bool, revision string, err error) {
	changed, revision, err = f.changed(ctx, src)
	return changed, revision, scrub(err)
}

func (f *Fetcher) changed(ctx context.Context, src config.Source) (changed bool, revision string, err error) {
	switch {
	case src.File != nil && src.File.URL != "":
		c, changed, err := f.getURL(ctx, src, f.maxSize())
		if err != nil {
			return false, "", err
		}
		return changed, c.hash, nil
	case src.API != nil:
		changed, err := f.apiChanged(ctx, src)
		return changed, "", err
	default:
		return false, "", fmt.Errorf("source %s is not an api or file.url source", src.Name)
	}
}
