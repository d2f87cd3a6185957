package watch

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/bounded"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/registry"
)

// fileProducer is the CloudEvents source attribute of the file watcher's
// triggers.
const fileProducer = events.ProducerFileWatcher

const (
	// settleWait bounds how long content that is not a complete JSON
	// document is taken for a write still in progress before it is
	// published anyway.
	settleWait = time.Second
	// maxWatchPasses bounds the rounds of placing directory watches while
	// directories appear and vanish underneath.
	maxWatchPasses = 8
)

// FileWatcher publishes a trigger whenever the content of a file source's
// file changes. It watches each file's directory rather than the file, so
// in-place writes, write-to-temp-then-rename, delete and re-create, and the
// symlink swap of Kubernetes ConfigMap and Secret volumes are all seen; a
// file whose directory does not exist yet is found by watching the nearest
// existing ancestor. Only events for the names that lead to a watched
// file count (the file, the directories and symlinks on its way, such as a
// ConfigMap's ..data): a log file written next to a registry costs
// nothing.
//
// The file is read as soon as an event says it may have changed, with no
// fixed wait: a write that is done leaves a complete JSON document, which
// is published at once; a write in progress leaves one cut short (an
// unclosed bracket or string), which waits for the writer's next event, or
// is read again after the debounce period, and is published anyway after
// the settle bound, so that the worker reports it. Bursts coalesce by
// themselves: events that arrive while a file is read are taken together,
// and a file is read again no sooner than the last read took, so a big
// file being copied in is not read over and over. What is published is the
// file's digest (the revision the file fetcher reports), when it differs
// from the last one published, streamed through the hash with no copy of
// the file in memory.
//
// Every file is read and published once when Run starts and when
// SetSources adds its source, so a change made while regsync was down is
// noticed; a missing file publishes an empty revision.
type FileWatcher struct {
	debounce time.Duration
	settle   time.Duration // longest wait for content to become complete
	// maxSize is the largest file read for its digest: the fetcher's
	// limit, sync.maxDataSize. A larger file gets a digest of its size and
	// modification time instead, which never equals a content digest, so
	// the worker fetches it and reports the size error.
	maxSize  int64
	logger   *slog.Logger
	triggers *triggers

	running atomic.Bool
	reload  chan struct{} // SetSources was called

	// beforeOpen, when set, runs just before a watched file is opened:
	// a test swaps the file there.
	beforeOpen func(path string)

	mu    sync.Mutex
	want  []fileSource // the last SetSources
	dirty bool         // want is not applied yet
}

type fileSource struct {
	name string
	path string // absolute
}

// NewFileWatcher returns a FileWatcher that publishes through pub,
// naming each trigger by the sync it follows as status tells (see
// identify). A
// file whose content is not yet a complete JSON document is read again
// after debounce (watch.debounce's default when not positive). A file is
// read for its digest up to maxSize, the limit the fetcher reads it to
// (sync.maxDataSize; its default when not positive). It watches nothing
// until SetSources is called.
func NewFileWatcher(pub TriggerSender, status Synced, debounce time.Duration, maxSize int64, logger *slog.Logger) *FileWatcher {
	if debounce <= 0 {
		debounce = time.Duration(config.Default().Watch.Debounce)
	}
	if maxSize <= 0 {
		maxSize = config.Default().Sync.MaxDataSize.Int64()
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &FileWatcher{
		debounce: debounce,
		settle:   max(settleWait, 2*debounce),
		maxSize:  maxSize,
		logger:   logger,
		triggers: newTriggers(pub, status, fileProducer, events.TriggerFile, "file", "missing", logger),
		reload:   make(chan struct{}, 1),
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
	w.triggers.reset()
	w.mu.Lock()
	w.dirty = true
	w.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { w.triggers.run(ctx) })
	l := &fileLoop{
		w:      w,
		fsw:    fsw,
		files:  make(map[string]*watchedFile),
		byName: make(map[string][]*watchedFile),
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

// watchedFile is one watched path and the sources reading it. Owned by the
// event loop.
type watchedFile struct {
	path    string
	sources []string        // names, sorted
	dirs    []string        // the directories watched for it
	names   map[string]bool // the names whose events concern it
	due     time.Time       // when to read it; zero: no read scheduled
	seq     uint64          // order of the event that scheduled the read
	read    time.Time       // when the last read ended
	cost    time.Duration   // how long the last read took
	// unsettled is when the file was first seen cut short or missing.
	unsettled time.Time
}

// fileLoop is the event loop of one Run: it owns the fsnotify watcher and
// every watchedFile.
type fileLoop struct {
	w      *FileWatcher
	fsw    *fsnotify.Watcher
	files  map[string]*watchedFile   // by absolute path
	byName map[string][]*watchedFile // by the names whose events concern them
	addErr map[string]string         // last error adding a watch, logged once
	seq    uint64                    // events handled
	buf    []byte                    // for reading files, reused
}

// readBufferSize is the size of the buffer files are read through.
const readBufferSize = 32 << 10

func (l *fileLoop) run(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if want, ok := l.w.takeSources(); ok {
			l.apply(want)
		}
		if next, ok := l.nextDue(); ok {
			timer.Reset(time.Until(next))
		} else {
			timer.Stop()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-l.w.reload:
		case ev, ok := <-l.fsw.Events:
			if !ok {
				return errors.New("file watcher: event channel closed")
			}
			l.handleEvent(ev)
			if err := l.drain(); err != nil {
				return err
			}
			l.checkDue(time.Now())
		case err, ok := <-l.fsw.Errors:
			if !ok {
				return errors.New("file watcher: error channel closed")
			}
			l.handleError(err)
		case <-timer.C:
			l.checkDue(time.Now())
		}
	}
}

// drain handles the events already waiting, so that a burst is read once.
func (l *fileLoop) drain() error {
	for {
		select {
		case ev, ok := <-l.fsw.Events:
			if !ok {
				return errors.New("file watcher: event channel closed")
			}
			l.handleEvent(ev)
		default:
			return nil
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

// apply makes the watched files match want. A source that is new, or whose
// path changed, starts over: its file is read at once and published.
func (l *fileLoop) apply(want []fileSource) {
	now := time.Now()
	paths := make(map[string]string, len(want))
	names := make(map[string]bool, len(want))
	for _, s := range want {
		paths[s.name] = s.path
		names[s.name] = true
	}
	var added []string
	for name, path := range paths {
		f := l.files[path]
		if f == nil || !slices.Contains(f.sources, name) {
			added = append(added, name)
		}
	}
	// A source that moved to another path starts over too.
	for _, f := range l.files {
		for _, name := range f.sources {
			if p, ok := paths[name]; ok && p != f.path {
				names[name] = false
			}
		}
	}
	for name, ok := range names {
		if !ok {
			delete(names, name)
		}
	}
	l.w.triggers.keep(names)

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
	for path, f := range l.files {
		if files[path] == nil {
			l.w.logger.Info("stopped watching file", "sources", f.sources, "path", path)
		}
	}
	l.files = files
	l.placeWatches(now)
	for _, name := range added {
		f := l.files[paths[name]]
		f.due = now
		l.w.logger.Info("watching file", "source", name, "path", f.path, "dirs", f.dirs)
	}
}

// handleEvent schedules a read of every file the event's name concerns;
// other events are ignored. A name that appears, vanishes or moves may
// change the way to a file, so the watches are placed again.
func (l *fileLoop) handleEvent(ev fsnotify.Event) {
	files := l.byName[ev.Name]
	if len(files) == 0 {
		return
	}
	now := time.Now()
	for _, f := range files {
		l.touch(f, now)
	}
	if ev.Has(fsnotify.Create) || ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		l.placeWatches(now)
	}
}

// handleError re-reads everything: after an error, and after an overflow
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

// touch schedules a read of a file: now, unless it was read so recently
// that reading it again would take more than half the watcher's time
// (then once the last read's duration has passed since it ended), or a
// read is already scheduled sooner.
func (l *fileLoop) touch(f *watchedFile, now time.Time) {
	at := now
	if next := f.read.Add(f.cost); next.After(now) {
		at = next
	}
	if f.due.IsZero() || at.Before(f.due) {
		f.due = at
	}
	l.seq++
	f.seq = l.seq
}

func (l *fileLoop) nextDue() (time.Time, bool) {
	var next time.Time
	found := false
	for _, f := range l.files {
		if !f.due.IsZero() && (!found || f.due.Before(next)) {
			next, found = f.due, true
		}
	}
	return next, found
}

// checkDue reads the files whose read is due, in the order of the events
// that asked for them.
func (l *fileLoop) checkDue(now time.Time) {
	var due []*watchedFile
	for _, f := range l.files {
		if !f.due.IsZero() && !f.due.After(now) {
			due = append(due, f)
		}
	}
	slices.SortFunc(due, func(a, b *watchedFile) int { return cmp.Compare(a.seq, b.seq) })
	for _, f := range due {
		l.check(f, now)
	}
}

// check reads a file and offers its revision to its sources. Content cut
// short is taken for a write in progress and read again after the
// debounce period, unless an event comes sooner, until the settle bound:
// then it is published anyway, so that the worker reports it. A file that
// vanished is given the debounce period to come back, as an editor that
// moves the old file away before writing the new one makes it.
func (l *fileLoop) check(f *watchedFile, now time.Time) {
	f.due = time.Time{}
	start := time.Now()
	if l.buf == nil {
		l.buf = make([]byte, readBufferSize)
	}
	revision, partial, err := fileRevision(f.path, l.w.maxSize, l.buf, l.w.beforeOpen)
	f.read = time.Now()
	f.cost = f.read.Sub(start)
	if err != nil {
		l.w.logger.Debug("cannot read watched file", "path", f.path, "err", err)
	}
	if partial || revision == "" {
		if f.unsettled.IsZero() {
			f.unsettled = now
		}
		bound := l.w.settle
		if revision == "" {
			bound = l.w.debounce
		}
		if now.Sub(f.unsettled) < bound && l.wouldPublish(f, revision) {
			f.due = now.Add(min(l.w.debounce, bound-now.Sub(f.unsettled)))
			return
		}
	}
	f.unsettled = time.Time{}
	for _, name := range f.sources {
		l.w.triggers.offer(name, revision, false)
	}
}

func (l *fileLoop) wouldPublish(f *watchedFile, revision string) bool {
	for _, name := range f.sources {
		if l.w.triggers.wouldPublish(name, revision) {
			return true
		}
	}
	return false
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
	clear(l.byName)
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
		}
		f.names = lookupNames(f.path)
		for name := range f.names {
			l.byName[name] = append(l.byName[name], f)
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

// lookupNames returns every name the kernel looks up to reach path: each
// directory on the way, each symlink and what it points to, and the file
// itself, named as fsnotify reports events for them (below real
// directory paths). An event for any of them may change what path holds;
// an event for any other name cannot. Past a missing name, the rest of the
// way is named as written.
func lookupNames(path string) map[string]bool {
	names := make(map[string]bool)
	resolved := string(filepath.Separator)
	rest := strings.Split(path, string(filepath.Separator))
	for links := 0; len(rest) > 0; {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			resolved = filepath.Dir(resolved)
			continue
		}
		next := filepath.Join(resolved, c)
		names[next] = true
		target, err := os.Readlink(next)
		if err != nil || links >= 40 { // not a symlink, missing, or a loop
			resolved = next
			continue
		}
		links++
		if filepath.IsAbs(target) {
			resolved = string(filepath.Separator)
		}
		rest = append(strings.Split(target, string(filepath.Separator)), rest...)
	}
	return names
}

// fileRevision returns the revision of the file at path: the digest the
// file fetcher reports for it (registry.Hash of its bytes), "" when it does
// not exist or cannot be read, and for a file over limit bytes a digest
// of its size and modification time. The file streams through the hash,
// never held in memory: it is read through buf, which a watcher reading
// thousands of files reuses. partial reports content cut short, as a write
// in progress leaves it (see docShape).
func fileRevision(path string, limit int64, buf []byte, beforeOpen func(string)) (revision string, partial bool, err error) {
	if beforeOpen != nil {
		beforeOpen(path)
	}
	// Never a FIFO or a device: reading one could block the watcher.
	f, info, err := bounded.Open(path)
	if missing(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read %s: %w", path, err)
	}
	if info.Size() > limit {
		f.Close()
		return oversize(info), false, nil
	}
	defer f.Close()
	h := sha256.New()
	var shape docShape
	n, err := io.CopyBuffer(io.MultiWriter(h, &shape), io.LimitReader(f, limit+1), buf)
	if err != nil {
		return "", false, fmt.Errorf("read %s: %w", path, err)
	}
	if n > limit {
		if info, err = f.Stat(); err != nil {
			return "", false, fmt.Errorf("read %s: %w", path, err)
		}
		return oversize(info), false, nil
	}
	return hex.EncodeToString(h.Sum(nil)), !shape.complete(), nil
}

// docShape follows the brackets and strings of a JSON document as it
// streams by, to tell one whose writer is done from one cut short: a
// write in progress leaves nothing (an empty file), an open bracket or an
// open string. It checks no other syntax; the worker validates. Content
// that does not start with a bracket is taken as complete, and the worker
// reports it.
type docShape struct {
	started  bool // a byte other than white space was seen
	scalar   bool // ... and it was not a bracket
	depth    int
	inString bool
	escaped  bool // inside a string, after a backslash
}

func (d *docShape) Write(p []byte) (int, error) {
	for i := 0; i < len(p) && !d.scalar; i++ {
		if d.inString {
			i = d.skipString(p, i)
			continue
		}
		switch c := p[i]; c {
		case ' ', '\t', '\n', '\r':
		case '"':
			d.inString = true
			d.started = true
		case '{', '[':
			d.depth++
			d.started = true
		case '}', ']':
			d.depth--
		default:
			if !d.started {
				d.scalar = true
			}
			d.started = true
		}
	}
	return len(p), nil
}

// skipString moves through string content from p[i] and returns the
// index of the closing quote, or the last index of p when the string goes
// on.
func (d *docShape) skipString(p []byte, i int) int {
	for i < len(p) {
		if d.escaped {
			d.escaped = false
			i++
			continue
		}
		j := bytes.IndexAny(p[i:], `"\`)
		if j < 0 {
			return len(p) - 1
		}
		i += j
		if p[i] == '\\' {
			d.escaped = true
			i++
			continue
		}
		d.inString = false
		return i
	}
	return len(p) - 1
}

func (d *docShape) complete() bool {
	return d.scalar || d.started && d.depth <= 0 && !d.inString
}

// missing reports an error saying that a path does not exist, including
// one of its directories being a file.
func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

func oversize(info fs.FileInfo) string {
	return registry.Hash(fmt.Appendf(nil, "oversize file: %d bytes, modified %d", info.Size(), info.ModTime().UnixNano()))
}
