package watch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/fsnotify/fsnotify"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/registry"
)

// maxDigestSize is the largest file the watcher reads to compute its
// digest. A larger file gets a digest of its size and modification time
// instead, which never equals a content digest, so the worker fetches it
// and reports the size error.
const maxDigestSize = 256 << 20

const (
	// settleWait bounds how long content that is not valid JSON is taken
	// for a write still in progress before it is published anyway.
	settleWait = time.Second
	// maxCheckDelay bounds how long a stream of events postpones a check.
	maxCheckDelay = time.Second
	// maxWatchPasses bounds the rounds of placing directory watches while
	// directories appear and vanish underneath.
	maxWatchPasses = 8
)

// FileWatcher publishes a trigger whenever the content of a file source's
// file changes. It watches each file's directory rather than the file, so
// in-place writes, write-to-temp-then-rename, delete and re-create, and the
// symlink swap of Kubernetes ConfigMap and Secret volumes are all seen; a
// file whose directory does not exist yet is found by watching the nearest
// existing ancestor. After the last event for a file it waits for the
// debounce period, reads the file and publishes its digest (the revision
// the file fetcher reports) if it differs from the last one published.
//
// Every file is read and published once when Run starts and when
// SetSources adds its source, so a change made while regsync was down is
// noticed; a missing file publishes an empty revision.
type FileWatcher struct {
	pub      Publisher
	debounce time.Duration
	logger   *slog.Logger
	retry    retry
	settle   time.Duration // longest wait for content to become valid JSON
	maxDelay time.Duration // longest a stream of events postpones a check

	running atomic.Bool
	reload  chan struct{} // SetSources was called
	wake    chan struct{} // a trigger is pending

	mu       sync.Mutex
	want     []fileSource            // the last SetSources
	dirty    bool                    // want is not applied yet
	busy     bool                    // the event loop is handling something
	dueFiles int                     // files with a check scheduled
	sources  map[string]*sourceState // by source name
	order    []*sourceState          // sources with a pending trigger, oldest first
	lastID   int64                   // time part of the last event id
}

type fileSource struct {
	name string
	path string // absolute
}

// sourceState is what the watcher told the workers about one source.
// Guarded by FileWatcher.mu.
type sourceState struct {
	name      string
	path      string
	known     bool     // published holds a revision that was stored
	published string   // the last revision stored ("" = missing)
	pending   *trigger // the newest observation, not yet taken
	inflight  *trigger // the observation being published
}

type trigger struct {
	revision string
	ev       event.Event
}

// latest returns the revision the workers will have heard of once every
// trigger in hand is stored, and whether there is one.
func (s *sourceState) latest() (string, bool) {
	switch {
	case s.pending != nil:
		return s.pending.revision, true
	case s.inflight != nil:
		return s.inflight.revision, true
	}
	return s.published, s.known
}

// NewFileWatcher returns a FileWatcher that publishes through pub and
// waits debounce after the last event for a file before reading it
// (config.DefaultDebounce when not positive). It watches nothing until
// SetSources is called.
func NewFileWatcher(pub Publisher, debounce time.Duration, logger *slog.Logger) *FileWatcher {
	if debounce <= 0 {
		debounce = config.DefaultDebounce
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &FileWatcher{
		pub:      pub,
		debounce: debounce,
		logger:   logger,
		retry:    defaultRetry,
		settle:   max(settleWait, 2*debounce),
		maxDelay: max(maxCheckDelay, 2*debounce),
		reload:   make(chan struct{}, 1),
		wake:     make(chan struct{}, 1),
		sources:  make(map[string]*sourceState),
	}
}

// SetSources sets the sources to watch: those with a local file
// (file.path), resolved against the working directory. It may be called
// before Run and while Run runs, for a configuration reload: watches are
// added and removed to match, a new source's file is read and published
// once, and a removed source publishes nothing more.
func (w *FileWatcher) SetSources(srcs []config.Source) {
	want := make([]fileSource, 0, len(srcs))
	for _, s := range srcs {
		if s.File == nil || s.File.Path == "" {
			continue
		}
		abs, err := filepath.Abs(s.File.Path)
		if err != nil {
			w.logger.Error("cannot watch file source", "source", s.Name, "path", s.File.Path, "err", err)
			continue
		}
		want = append(want, fileSource{name: s.Name, path: abs})
	}
	w.mu.Lock()
	w.want, w.dirty = want, true
	w.mu.Unlock()
	select {
	case w.reload <- struct{}{}:
	default:
	}
}

// Run watches the files until ctx is done. It returns nil then, after
// every goroutine it started has ended and the fsnotify watcher is closed;
// triggers not yet stored are dropped, as the next Run publishes every
// file again. It returns an error when it cannot start watching.
func (w *FileWatcher) Run(ctx context.Context) error {
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("run file watcher: already running")
	}
	defer w.running.Store(false)
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("start file watcher: %w", err)
	}

	// A new Run publishes every file again.
	w.mu.Lock()
	w.sources, w.order, w.dirty = make(map[string]*sourceState), nil, true
	w.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { w.publishLoop(ctx) })
	l := &fileLoop{
		w:      w,
		fsw:    fsw,
		files:  make(map[string]*watchedFile),
		byDir:  make(map[string][]*watchedFile),
		addErr: make(map[string]string),
	}
	err = l.run(ctx)
	cancel()
	closeErr := fsw.Close()
	wg.Wait()
	if err == nil && closeErr != nil {
		err = fmt.Errorf("close file watcher: %w", closeErr)
	}
	return err
}

// quiet reports whether the watcher has nothing left to do for the events
// it has received: no sources to apply, no check scheduled and no trigger
// waiting to be stored.
func (w *FileWatcher) quiet() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dirty || w.busy || w.dueFiles > 0 {
		return false
	}
	for _, s := range w.sources {
		if s.pending != nil || s.inflight != nil {
			return false
		}
	}
	return true
}

// offer hands the revision seen for a source to the publisher, unless it
// is the one the workers already have (or will have).
func (w *FileWatcher) offer(name, revision string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.sources[name]
	if s == nil {
		return
	}
	if s.pending != nil && s.inflight != nil && s.inflight.revision == revision {
		// Back to what is being published: the newer observation is moot.
		s.pending = nil
		return
	}
	if rev, known := s.latest(); known && rev == revision {
		return
	}
	ev, err := w.newEvent(name, revision)
	if err != nil {
		w.logger.Error("cannot build trigger", "source", name, "err", err)
		return
	}
	if s.pending == nil {
		w.order = append(w.order, s)
	}
	s.pending = &trigger{revision: revision, ev: ev}
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// wouldPublish reports whether revision is news to any of the sources.
func (w *FileWatcher) wouldPublish(names []string, revision string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, name := range names {
		s := w.sources[name]
		if s == nil {
			continue
		}
		if rev, known := s.latest(); !known || rev != revision {
			return true
		}
	}
	return false
}

// newEvent builds the trigger for one observation. Its id is unique per
// observation, so a revision that comes back (A, B, A) is never taken for a
// duplicate: file-<source>-<first 12 hex of the digest, or "missing">-<unix
// nanoseconds>. Called with w.mu held.
func (w *FileWatcher) newEvent(name, revision string) (event.Event, error) {
	seen := "missing"
	if revision != "" {
		seen = revision[:min(12, len(revision))]
	}
	// Strictly increasing, so two observations never share an id.
	at := max(time.Now().UnixNano(), w.lastID+1)
	w.lastID = at
	id := fmt.Sprintf("file-%s-%s-%d", name, seen, at)
	return events.New(id, w.pub.Source(events.ProducerFileWatcher), &events.SourceChanged{
		Source:   name,
		Trigger:  events.TriggerFile,
		Revision: revision,
	})
}

// publishLoop stores pending triggers, oldest first, until ctx is done.
func (w *FileWatcher) publishLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		}
		for ctx.Err() == nil {
			s, t := w.nextTrigger()
			if t == nil {
				break
			}
			w.deliver(ctx, s, t)
		}
	}
}

func (w *FileWatcher) nextTrigger() (*sourceState, *trigger) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.order) > 0 {
		s := w.order[0]
		w.order[0] = nil
		w.order = w.order[1:]
		if w.sources[s.name] != s || s.pending == nil {
			continue
		}
		t := s.pending
		s.pending, s.inflight = nil, t
		return s, t
	}
	return nil, nil
}

// deliver publishes one trigger with retries. Only a stored revision counts
// as published; after a failure the next check of the file offers it again.
func (w *FileWatcher) deliver(ctx context.Context, s *sourceState, t *trigger) {
	log := w.logger.With("source", s.name, "path", s.path, "revision", t.revision)
	stale := func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.sources[s.name] != s || s.pending != nil
	}
	err := w.retry.publish(ctx, w.pub, events.TriggerSubject(s.name), t.ev, stale, log)

	w.mu.Lock()
	defer w.mu.Unlock()
	if s.inflight == t {
		s.inflight = nil
	}
	switch {
	case err == nil:
		s.published, s.known = t.revision, true
		log.Info("published file trigger", "event_id", t.ev.ID())
	case errors.Is(err, errStale) || ctx.Err() != nil:
	default:
		log.Error("cannot publish file trigger", "event_id", t.ev.ID(), "err", err)
	}
}

// watchedFile is one watched path and the sources reading it. Owned by the
// event loop.
type watchedFile struct {
	path       string
	sources    []string  // names, sorted
	dirs       []string  // the directories watched for it
	due        time.Time // when to check it; zero: no check scheduled
	firstEvent time.Time // first event since the last check
	invalid    time.Time // when its content was first seen not to be valid JSON
}

// fileLoop is the event loop of one Run: it owns the fsnotify watcher and
// every watchedFile.
type fileLoop struct {
	w      *FileWatcher
	fsw    *fsnotify.Watcher
	files  map[string]*watchedFile   // by absolute path
	byDir  map[string][]*watchedFile // by watched directory
	addErr map[string]string         // last error adding a watch, logged once
}

func (l *fileLoop) run(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if want, ok := l.w.takeSources(); ok {
			l.apply(want)
		}
		next, due := l.nextDue()
		if due > 0 {
			timer.Reset(time.Until(next))
		} else {
			timer.Stop()
		}
		l.w.setIdle(due)
		select {
		case <-ctx.Done():
			return nil
		case <-l.w.reload:
			l.w.setBusy()
		case ev, ok := <-l.fsw.Events:
			l.w.setBusy()
			if !ok {
				return errors.New("file watcher: event channel closed")
			}
			l.handleEvent(ev)
		case err, ok := <-l.fsw.Errors:
			l.w.setBusy()
			if !ok {
				return errors.New("file watcher: error channel closed")
			}
			l.handleError(err)
		case <-timer.C:
			l.w.setBusy()
			l.checkDue(time.Now())
		}
	}
}

func (w *FileWatcher) takeSources() ([]fileSource, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.dirty {
		return nil, false
	}
	w.dirty = false
	return w.want, true
}

func (w *FileWatcher) setIdle(due int) {
	w.mu.Lock()
	w.busy, w.dueFiles = false, due
	w.mu.Unlock()
}

func (w *FileWatcher) setBusy() {
	w.mu.Lock()
	w.busy = true
	w.mu.Unlock()
}

// apply makes the watched files match want. A source that is new, or whose
// path changed, starts over: its file is checked at once and published.
func (l *fileLoop) apply(want []fileSource) {
	now := time.Now()
	paths := make(map[string]string, len(want))
	for _, s := range want {
		paths[s.name] = s.path
	}

	var added []string
	l.w.mu.Lock()
	for name, s := range l.w.sources {
		if paths[name] != s.path {
			delete(l.w.sources, name)
			l.w.logger.Info("stopped watching file", "source", name, "path", s.path)
		}
	}
	for name, path := range paths {
		if l.w.sources[name] == nil {
			l.w.sources[name] = &sourceState{name: name, path: path}
			added = append(added, name)
		}
	}
	l.w.mu.Unlock()

	files := make(map[string]*watchedFile, len(paths))
	for _, name := range slices.Sorted(maps.Keys(paths)) {
		path := paths[name]
		f := files[path]
		if f == nil {
			f = l.files[path]
			if f == nil {
				f = &watchedFile{path: path}
			}
			f.sources = nil
			files[path] = f
		}
		f.sources = append(f.sources, name)
	}
	l.files = files
	l.placeWatches(now)
	for _, name := range added {
		f := l.files[paths[name]]
		f.due = now
		l.w.logger.Info("watching file", "source", name, "path", f.path, "dirs", f.dirs)
	}
}

// handleEvent schedules a check of every file watched through the event's
// directory. Which name the event carries does not matter: a ConfigMap
// update, for one, only touches ..data and timestamped directories.
func (l *fileLoop) handleEvent(ev fsnotify.Event) {
	now := time.Now()
	for _, f := range l.byDir[filepath.Dir(ev.Name)] {
		l.touch(f, now)
	}
	// The watched directory itself was removed or renamed.
	for _, f := range l.byDir[ev.Name] {
		l.touch(f, now)
	}
	if ev.Has(fsnotify.Create) || ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		l.placeWatches(now)
	}
}

// handleError re-checks everything: after an error, and after an overflow
// in particular, events may have been lost.
func (l *fileLoop) handleError(err error) {
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		l.w.logger.Warn("file events were lost, checking every watched file", "err", err)
	} else {
		l.w.logger.Warn("file watcher error, checking every watched file", "err", err)
	}
	now := time.Now()
	l.placeWatches(now)
	for _, f := range l.files {
		l.touch(f, now)
	}
}

// touch (re)starts the quiet period of a file, but postpones its check by
// no more than maxDelay after the first event since the last check.
func (l *fileLoop) touch(f *watchedFile, now time.Time) {
	if f.firstEvent.IsZero() {
		f.firstEvent = now
	}
	f.due = now.Add(l.w.debounce)
	if limit := f.firstEvent.Add(l.w.maxDelay); f.due.After(limit) {
		f.due = limit
	}
}

func (l *fileLoop) nextDue() (time.Time, int) {
	var next time.Time
	n := 0
	for _, f := range l.files {
		if f.due.IsZero() {
			continue
		}
		if n == 0 || f.due.Before(next) {
			next = f.due
		}
		n++
	}
	return next, n
}

func (l *fileLoop) checkDue(now time.Time) {
	for _, f := range l.files {
		if !f.due.IsZero() && !f.due.After(now) {
			l.check(f, now)
		}
	}
}

// check reads a file and offers its revision to its sources. Content that
// is not valid JSON is taken for a write in progress and checked again
// after another debounce period, until the settle bound: then it is
// published anyway, so that the worker reports it.
func (l *fileLoop) check(f *watchedFile, now time.Time) {
	f.due, f.firstEvent = time.Time{}, time.Time{}
	revision, partial, err := fileRevision(f.path)
	if err != nil {
		l.w.logger.Debug("cannot read watched file", "path", f.path, "err", err)
	}
	if partial {
		if f.invalid.IsZero() {
			f.invalid = now
		}
		if now.Sub(f.invalid) < l.w.settle && l.w.wouldPublish(f.sources, revision) {
			f.due = now.Add(l.w.debounce)
			return
		}
	}
	f.invalid = time.Time{}
	for _, name := range f.sources {
		l.w.offer(name, revision)
	}
}

// placeWatches makes the fsnotify watches match the files: for each file,
// its directory or, while that does not exist, the nearest existing
// ancestor, and the directory of its symlink target. Directories can
// appear and vanish while it adds them, so it repeats until two rounds
// agree; a file whose watched directories changed is checked, as events
// may have been missed in between. Adding a watch that exists is harmless,
// and renews it when the directory was replaced under the same name.
func (l *fileLoop) placeWatches(now time.Time) {
	var dirs map[*watchedFile][]string
	for range maxWatchPasses {
		dirs = l.watchDirs()
		vanished := false
		for _, dir := range unionDirs(dirs) {
			err := l.fsw.Add(dir)
			switch {
			case err == nil:
				delete(l.addErr, dir)
			case missing(err):
				vanished = true
			case l.addErr[dir] != err.Error():
				l.addErr[dir] = err.Error()
				l.w.logger.Warn("cannot watch directory", "path", dir, "err", err)
			}
		}
		if !vanished && sameDirs(dirs, l.watchDirs()) {
			break
		}
	}

	wanted := make(map[string]bool)
	clear(l.byDir)
	for f, ds := range dirs {
		if !slices.Equal(f.dirs, ds) {
			if f.dirs != nil {
				l.w.logger.Debug("watched directories moved", "path", f.path, "dirs", ds)
			}
			f.dirs = ds
			l.touch(f, now)
		}
		for _, d := range ds {
			wanted[d] = true
			l.byDir[d] = append(l.byDir[d], f)
		}
	}
	for _, dir := range l.fsw.WatchList() {
		if !wanted[dir] {
			// A watch on a directory that is gone is already dropped.
			_ = l.fsw.Remove(dir)
			delete(l.addErr, dir)
		}
	}
}

func (l *fileLoop) watchDirs() map[*watchedFile][]string {
	dirs := make(map[*watchedFile][]string, len(l.files))
	for _, f := range l.files {
		dirs[f] = watchDirs(f.path)
	}
	return dirs
}

// watchDirs returns the directories to watch for path: its directory, or
// the nearest existing ancestor while that does not exist; and, when path
// is a symlink into another directory (as in a ConfigMap volume, where
// registry.json -> ..data/registry.json), that directory too, so a change
// made to the target in place is seen. Directories are named by their real
// paths: the kernel watches the directory, not the name, and fsnotify
// reports a directory reached by two names under the first one only.
func watchDirs(path string) []string {
	dir := filepath.Dir(path)
	if near := existingDir(dir); near != dir {
		return []string{realPath(near)}
	}
	dirs := []string{realPath(dir)}
	if target, err := filepath.EvalSymlinks(path); err == nil {
		if td := filepath.Dir(target); td != dirs[0] {
			dirs = append(dirs, td)
		}
	}
	return dirs
}

func realPath(path string) string {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		return real
	}
	return path
}

// existingDir returns dir or its nearest ancestor that is a directory.
func existingDir(dir string) string {
	for {
		if info, err := os.Stat(dir); err == nil && info.IsDir() {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return dir
		}
		dir = parent
	}
}

func unionDirs(dirs map[*watchedFile][]string) []string {
	set := make(map[string]bool)
	for _, ds := range dirs {
		for _, d := range ds {
			set[d] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

func sameDirs(a, b map[*watchedFile][]string) bool {
	return maps.EqualFunc(a, b, slices.Equal)
}

// fileRevision returns the revision of the file at path: the digest the
// file fetcher reports for it (registry.Hash of its bytes), "" when it does
// not exist or cannot be read, and for a file over maxDigestSize a digest
// of its size and modification time. partial reports content that is not
// valid JSON, as a write in progress leaves it.
func fileRevision(path string) (revision string, partial bool, err error) {
	info, err := os.Stat(path)
	if missing(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	if !info.Mode().IsRegular() {
		// Never open a FIFO or device: it could block the watcher.
		return "", false, fmt.Errorf("read %s: not a regular file", path)
	}
	if info.Size() > maxDigestSize {
		return oversize(info), false, nil
	}
	f, err := os.Open(path)
	if missing(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxDigestSize+1))
	if err != nil {
		return "", false, fmt.Errorf("read %s: %w", path, err)
	}
	if len(raw) > maxDigestSize {
		if info, err = f.Stat(); err != nil {
			return "", false, fmt.Errorf("read %s: %w", path, err)
		}
		return oversize(info), false, nil
	}
	return registry.Hash(raw), !json.Valid(raw), nil
}

// missing reports an error saying that a path does not exist, including
// one of its directories being a file.
func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

func oversize(info fs.FileInfo) string {
	return registry.Hash(fmt.Appendf(nil, "oversize file: %d bytes, modified %d", info.Size(), info.ModTime().UnixNano()))
}
