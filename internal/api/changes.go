package api

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/regsync/regsync/events"
)

// DefaultHeartbeat is how often an idle feed sends a comment line, so
// that proxies keep the connection and clients notice a dead one.
const DefaultHeartbeat = 15 * time.Second

// Bounds of a change feed.
const (
	// feedBuffer is how many events a client may have unsent before it is
	// dropped: a slow client never holds up the others or the view.
	feedBuffer = 64
	// maxHistory and maxHistoryBytes bound the generations kept per
	// registry for clients that resume with Last-Event-ID.
	maxHistory      = 1000
	maxHistoryBytes = 8 << 20
	// feedWriteTimeout bounds each write to a client.
	feedWriteTimeout = 10 * time.Second
)

// Feed is the change feed of a Handler's registries: one Server-Sent
// Event per generation of a registry's view (the registry.changed events
// given to Record), sent once this replica's view has that generation's
// content (Applied), so a client that re-reads after an event gets the
// new data. It keeps the last generations of each registry for clients
// that resume with Last-Event-ID.
type Feed struct {
	log        *slog.Logger
	maxClients int
	heartbeat  time.Duration
	loaded     chan struct{}
	loadOnce   sync.Once
	stop       chan struct{}
	stopOnce   sync.Once

	mu      sync.Mutex
	clients int
	regs    map[string]*registryFeed
}

// registryFeed is what a Feed holds of one registry.
type registryFeed struct {
	// pending holds the changes recorded whose content this replica's
	// view does not have yet, by generation.
	pending []events.RegistryChanged
	// history holds the events sent, oldest first, within maxHistory and
	// maxHistoryBytes.
	history      []feedEvent
	historyBytes int
	// digest is the merged view digest of the view applied, etag the ETag
	// of its full listing.
	digest, etag string
	subs         map[*feedClient]struct{}
}

// feedEvent is one event as sent: its generation and its frame.
type feedEvent struct {
	generation uint64
	frame      []byte
}

// feedClient is one connected client: the frames it has not been sent
// yet, and gone, closed when it is dropped for falling behind.
type feedClient struct {
	frames chan []byte
	gone   chan struct{}
}

// FeedEvent is the data of a "changed" or "reset" event of the feed.
type FeedEvent struct {
	Registry string `json:"registry"`
	// Generation is the generation of the registry's view.
	Generation uint64 `json:"generation"`
	// ETag is the ETag this replica answers for the full listing
	// (/v0.1/servers without parameters) once the event is sent.
	ETag string `json:"etag"`
	// Diff, the counts and the view digest are the registry.changed
	// event's (absent in a reset).
	Diff        *events.RegistryDiff `json:"diff,omitempty"`
	ServerCount int                  `json:"serverCount"`
	SkillCount  int                  `json:"skillCount"`
	PluginCount int                  `json:"pluginCount"`
	ViewDigest  string               `json:"viewDigest,omitempty"`
}

func newFeed(log *slog.Logger) *Feed {
	return &Feed{log: log, heartbeat: DefaultHeartbeat,
		loaded: make(chan struct{}), stop: make(chan struct{}), regs: map[string]*registryFeed{}}
}

// SetLimits sets how many clients the feed serves at once
// (api.maxSSEClients; none until it is set) and how often an idle stream
// gets a comment line. It must be called before the handler serves.
func (f *Feed) SetLimits(maxClients int, heartbeat time.Duration) {
	f.maxClients, f.heartbeat = maxClients, heartbeat
}

// Loaded says the feed has recorded the stored history of every
// registry: from then on it answers, and an id it does not know is one
// the history does not have.
func (f *Feed) Loaded() { f.loadOnce.Do(func() { close(f.loaded) }) }

// Close ends every stream and refuses new ones (a server shutting down).
func (f *Feed) Close() { f.stopOnce.Do(func() { close(f.stop) }) }

// Clients returns how many clients are connected.
func (f *Feed) Clients() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.clients
}

// Generations returns, per registry, the generation of the last event
// sent: the generation whose content this replica serves.
func (f *Feed) Generations() map[string]uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]uint64, len(f.regs))
	for name, rf := range f.regs {
		if n := len(rf.history); n > 0 {
			out[name] = rf.history[n-1].generation
		}
	}
	return out
}

func (f *Feed) registry(name string) *registryFeed {
	rf := f.regs[name]
	if rf == nil {
		rf = &registryFeed{subs: map[*feedClient]struct{}{}}
		f.regs[name] = rf
	}
	return rf
}

// Record takes a registry.changed event, in the order of the stream. It
// is sent once the view applied has its content (or a later
// generation's). A generation not after the last one known is a
// repeat, ignored; unless it is a first generation after others: the
// registry's generations started again (its status was recreated), so
// its history is dropped and every client is sent a reset.
func (f *Feed) Record(c events.RegistryChanged) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rf := f.registry(c.Registry)
	if last := rf.lastGeneration(); c.Generation <= last {
		if c.Generation != 1 || last == 1 {
			return // a repeat
		}
		rf.pending, rf.history, rf.historyBytes = nil, nil, 0
		f.broadcast(rf, resetFrame(c.Registry, 0, rf.etag))
	}
	rf.pending = append(rf.pending, c)
	if len(rf.pending) > maxHistory {
		// A view that does not catch up: the oldest are never sent.
		rf.pending = rf.pending[len(rf.pending)-maxHistory:]
	}
	f.release(c.Registry, rf)
}

// Applied takes the view a registry is now served from, with the digest
// of its merge (what registry.changed events name).
func (f *Feed) Applied(registry, viewDigest string, v *View) {
	tag := listingETag(v)
	f.mu.Lock()
	defer f.mu.Unlock()
	rf := f.registry(registry)
	rf.digest, rf.etag = viewDigest, tag
	f.release(registry, rf)
}

// lastGeneration is the last generation recorded, sent or not.
func (rf *registryFeed) lastGeneration() uint64 {
	if n := len(rf.pending); n > 0 {
		return rf.pending[n-1].Generation
	}
	if n := len(rf.history); n > 0 {
		return rf.history[n-1].generation
	}
	return 0
}

// release sends the pending changes up to the last one whose content the
// view applied has, in order.
func (f *Feed) release(name string, rf *registryFeed) {
	upto := -1
	for i, c := range rf.pending {
		if c.ViewDigest == rf.digest {
			upto = i
		}
	}
	for _, c := range rf.pending[:upto+1] {
		ev := feedEvent{generation: c.Generation, frame: changedFrame(name, c, rf.etag)}
		rf.history = append(rf.history, ev)
		rf.historyBytes += len(ev.frame)
		for len(rf.history) > maxHistory || rf.historyBytes > maxHistoryBytes {
			rf.historyBytes -= len(rf.history[0].frame)
			rf.history = rf.history[1:]
		}
		f.broadcast(rf, ev.frame)
	}
	rf.pending = rf.pending[upto+1:]
}

// broadcast queues a frame for every client of a registry, dropping each
// client whose buffer is full.
func (f *Feed) broadcast(rf *registryFeed, frame []byte) {
	for c := range rf.subs {
		select {
		case c.frames <- frame:
		default:
			delete(rf.subs, c)
			close(c.gone)
		}
	}
}

func changedFrame(registry string, c events.RegistryChanged, etag string) []byte {
	return frame(c.Generation, "changed", FeedEvent{Registry: registry, Generation: c.Generation, ETag: etag,
		Diff: &c.Diff, ServerCount: c.ServerCount, SkillCount: c.SkillCount, PluginCount: c.PluginCount,
		ViewDigest: c.ViewDigest})
}

func resetFrame(registry string, generation uint64, etag string) []byte {
	return frame(generation, "reset", FeedEvent{Registry: registry, Generation: generation, ETag: etag})
}

// frame encodes one Server-Sent Event; JSON data has no newline.
func frame(id uint64, name string, data FeedEvent) []byte {
	b, _ := json.Marshal(data)
	out := make([]byte, 0, len(b)+48)
	out = append(out, "id: "...)
	out = strconv.AppendUint(out, id, 10)
	out = append(out, "\nevent: "...)
	out = append(out, name...)
	out = append(out, "\ndata: "...)
	out = append(out, b...)
	return append(out, "\n\n"...)
}

// listingETag is the ETag of the full server listing of v, as the handler
// answers it.
func listingETag(v *View) string {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	a, _ := listServers(v, r)
	return etag(v.digest, a.key)
}

// subscribe adds a client of a registry and returns it with the frames
// it must be sent first: the events after lastID when given, or a reset
// when the history does not hold them. It refuses a client beyond the
// limit.
func (f *Feed) subscribe(name, lastID string, resume bool) (*feedClient, [][]byte, *requestError) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.clients >= f.maxClients {
		return nil, nil, &requestError{http.StatusServiceUnavailable,
			fmt.Sprintf("too many change feed clients: this replica serves at most %d at once", f.maxClients)}
	}
	rf := f.registry(name)
	c := &feedClient{frames: make(chan []byte, feedBuffer), gone: make(chan struct{})}
	rf.subs[c] = struct{}{}
	f.clients++
	return c, rf.replay(name, lastID, resume), nil
}

// replay is what a client that last saw lastID missed.
func (rf *registryFeed) replay(name, lastID string, resume bool) [][]byte {
	if !resume {
		return nil
	}
	var last uint64
	if n := len(rf.history); n > 0 {
		last = rf.history[n-1].generation
	}
	id, err := strconv.ParseUint(lastID, 10, 64)
	switch {
	case err != nil || id > last:
		return [][]byte{resetFrame(name, last, rf.etag)}
	case id == last:
		return nil
	case rf.history[0].generation > id+1:
		return [][]byte{resetFrame(name, last, rf.etag)}
	}
	var out [][]byte
	for _, ev := range rf.history {
		if ev.generation > id {
			out = append(out, ev.frame)
		}
	}
	return out
}

func (f *Feed) unsubscribe(name string, c *feedClient) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.regs[name].subs, c)
	f.clients--
}

// changes serves a registry's change feed.
func (h *Handler) changes(w http.ResponseWriter, r *http.Request) {
	p, ok := h.registry(w, r)
	if !ok {
		return
	}
	name := r.PathValue("registry")
	f := h.feed
	historyRead := false
	select {
	case <-f.loaded:
		historyRead = true
	default:
	}
	if !historyRead || p.Load() == nil {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("registry %q is not loaded yet", name))
		return
	}
	select {
	case <-f.stop:
		writeError(w, http.StatusServiceUnavailable, "the change feed is shutting down")
		return
	default:
	}
	// An empty Last-Event-ID is no id, as for an EventSource.
	id := r.Header.Get("Last-Event-ID")
	c, replay, rerr := f.subscribe(name, id, id != "")
	if rerr != nil {
		writeError(w, rerr.code, rerr.msg)
		return
	}
	defer f.unsubscribe(name, c)
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	rc := http.NewResponseController(w)
	write := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(feedWriteTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	// The headers go out at once, so the client knows it is connected.
	if !write([]byte(": connected\n\n")) {
		return
	}
	for _, b := range replay {
		if !write(b) {
			return
		}
	}
	tick := time.NewTicker(f.heartbeat)
	defer tick.Stop()
	for {
		select {
		case b := <-c.frames:
			if !write(b) {
				return
			}
		case <-tick.C:
			if !write([]byte(": keep-alive\n\n")) {
				return
			}
		case <-c.gone:
			h.log.Info("change feed client dropped: it fell behind", "registry", name, "remote_addr", r.RemoteAddr)
			return
		case <-f.stop:
			return
		case <-r.Context().Done():
			return
		}
	}
}
