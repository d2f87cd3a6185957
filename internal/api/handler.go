package api

import (
	"compress/gzip"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// maxQueryLen bounds the query string of a request; no parameter of the
// API needs more.
const maxQueryLen = 4096

// minGzipLen is the smallest body worth compressing.
const minGzipLen = 1024

//go:embed openapi.yaml
var openAPIDocument []byte

// Handler serves the MCP registry API v0.1 of a set of registries, each
// from the View last given to Swap. Requests read the set and the current
// view through atomic pointers: they never lock and never wait for a swap
// or for SetRegistries.
type Handler struct {
	set  atomic.Pointer[registrySet]
	feed *Feed
	log  *slog.Logger
	mux  *http.ServeMux
	// setMu orders SetRegistries calls; requests never take it.
	setMu sync.Mutex
	// noCORS turns the CORS headers off (SetCORS).
	noCORS atomic.Bool
}

// routeBase is the part every route's path starts with; a route's pattern
// is a method, a space, routeBase and the route's name.
const routeBase = "/registry/{registry}"

// allowedMethods are the methods a route answers, in an Allow header and
// in a preflight's Access-Control-Allow-Methods.
const allowedMethods = "GET, HEAD, OPTIONS"

// CORS: the read API serves public data and takes no credentials, so any
// origin may read it (docs/api.md, "CORS").
var (
	// corsOrigin and corsExposed are the values of the headers every
	// answer carries; one slice each, shared, as a header value is only
	// read once set.
	corsOrigin  = []string{"*"}
	corsExposed = []string{"ETag, Retry-After"}
)

const (
	// corsAllowHeaders are the request headers a preflight allows: what
	// a browser client of the API sends (Authorization is allowed and
	// ignored). Accept-Encoding is set by the browser and never asked.
	corsAllowHeaders = "Accept, Authorization, Content-Type, If-None-Match, Last-Event-ID"
	// corsMaxAge is how long, in seconds, a browser may keep a preflight's
	// answer: a day, as long as Firefox keeps one (Chromium keeps two
	// hours at most).
	corsMaxAge = "86400"
)

// OtherRoute is the route name of a request that no route answers.
const OtherRoute = "other"

// namedRoute is a route under /registry/{registry}: its name is the rest
// of its pattern.
type namedRoute struct {
	name string
	fn   http.HandlerFunc
}

// table is every route of the API and what answers it.
func (h *Handler) table() []namedRoute {
	t := []namedRoute{
		{"/openapi.yaml", h.openAPI},
		{"/v0.1/servers", h.serve(listServers)},
		{"/v0.1/servers/{serverName}/versions", h.serve(serverVersions)},
		{"/v0.1/servers/{serverName}/versions/{version}", h.serve(serverVersion)},
		{"/v0.1/x/dev.regsync/changes", h.changes},
	}
	for _, k := range []artifactKind{skills, plugins} {
		prefix := "/v0.1/x/dev.toolhive/" + k.plural
		t = append(t,
			namedRoute{prefix, h.serve(k.list)},
			namedRoute{prefix + "/{namespace}/{name}", h.serve(k.latest)},
			namedRoute{prefix + "/{namespace}/{name}/versions", h.serve(k.versions)},
			namedRoute{prefix + "/{namespace}/{name}/versions/{version}", h.serve(k.version)})
	}
	return t
}

// Routes names every route of the API, as Route names them: the pattern
// after /registry/{registry} (/v0.1/servers, …), and OtherRoute.
func Routes() []string {
	var out []string
	for _, rt := range (*Handler)(nil).table() {
		out = append(out, rt.name)
	}
	return append(out, OtherRoute)
}

// Route names the route that answered r, once ServeHTTP has returned: a
// fixed name from Routes, never a part of the request.
func Route(r *http.Request) string {
	_, path, _ := strings.Cut(r.Pattern, " ")
	route, ok := strings.CutPrefix(path, routeBase)
	if !ok {
		return OtherRoute
	}
	return route
}

// registrySet is the registries a Handler knows, immutable once stored:
// the current view of each, and why a known registry is refused.
type registrySet struct {
	views   map[string]*atomic.Pointer[View]
	refused map[string]string
}

// NewHandler returns a handler for the named registries. Until a
// registry's first view is swapped in, its API answers 503.
func NewHandler(registries []string, log *slog.Logger) *Handler {
	h := &Handler{log: log, mux: http.NewServeMux(), feed: newFeed(log)}
	h.SetRegistries(registries, nil)
	for _, rt := range h.table() {
		h.mux.HandleFunc("GET "+routeBase+rt.name, h.withCORS(rt.fn))
		h.mux.HandleFunc("OPTIONS "+routeBase+rt.name, h.withCORS(h.options))
	}
	h.mux.HandleFunc("/registry/", h.withCORS(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			writeError(w, http.StatusNotFound, fmt.Sprintf("no route %s %s", r.Method, r.URL.EscapedPath()))
		default:
			w.Header().Set("Allow", allowedMethods)
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed: the read API answers GET, HEAD and OPTIONS", r.Method))
		}
	}))
	return h
}

// withCORS adds to every answer of fn the headers that let a page of any
// origin read it, unless SetCORS turned them off.
func (h *Handler) withCORS(fn http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !h.noCORS.Load() {
			hd := w.Header()
			hd["Access-Control-Allow-Origin"] = corsOrigin
			hd["Access-Control-Expose-Headers"] = corsExposed
		}
		fn(w, r)
	}
}

// options answers OPTIONS on a route: 204 with the methods it allows,
// and for a CORS preflight (Origin and Access-Control-Request-Method)
// the methods and request headers a page may use. The answer does not
// depend on the registry: the request that follows answers 404 for an
// unknown one, readable by the page.
func (h *Handler) options(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Allow", allowedMethods)
	if !h.noCORS.Load() && r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != "" {
		hd.Set("Access-Control-Allow-Methods", allowedMethods)
		hd.Set("Access-Control-Allow-Headers", corsAllowHeaders)
		hd.Set("Access-Control-Max-Age", corsMaxAge)
	}
	w.WriteHeader(http.StatusNoContent)
}

// SetRegistries replaces the set of registries, whole, for every request
// that starts after it returns. A registry kept keeps its view; one added
// answers 503 until its first view is swapped in; one dropped answers
// 404. A registry in refused has its view kept and swapped like the
// others but answers 404 with the reason given.
func (h *Handler) SetRegistries(registries []string, refused map[string]string) {
	h.setMu.Lock()
	defer h.setMu.Unlock()
	var old map[string]*atomic.Pointer[View]
	if cur := h.set.Load(); cur != nil {
		old = cur.views
	}
	next := &registrySet{views: make(map[string]*atomic.Pointer[View], len(registries)), refused: maps.Clone(refused)}
	for _, name := range registries {
		p := old[name]
		if p == nil {
			p = new(atomic.Pointer[View])
		}
		next.views[name] = p
	}
	h.set.Store(next)
}

// Swap makes v the view the registry is served from, whole, for every
// request that starts after it returns.
func (h *Handler) Swap(registry string, v *View) error {
	p, ok := h.set.Load().views[registry]
	if !ok {
		return fmt.Errorf("swap view: registry %q is not served by this handler", registry)
	}
	p.Store(v)
	return nil
}

// SetCORS turns the CORS headers of every answer and the answers to
// preflight requests on or off; they are on unless turned off.
func (h *Handler) SetCORS(enabled bool) { h.noCORS.Store(!enabled) }

// Feed returns the handler's change feed.
func (h *Handler) Feed() *Feed { return h.feed }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r)
}

// answer is a route's answer before its body is built: key names the
// request as normalised by the route, so the view's digest and key name
// the body, and the body is built only when the client does not have it.
// body appends the body to the buffer it is given and returns it, so
// that answers are built in buffers reused from one request to the next.
type answer struct {
	key  []byte
	body func(dst []byte) []byte
}

// requestError is a request the API refuses, with the status and message
// it answers.
type requestError struct {
	code int
	msg  string
}

func badRequest(format string, args ...any) *requestError {
	return &requestError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) *requestError {
	return &requestError{http.StatusNotFound, fmt.Sprintf(format, args...)}
}

// route answers one request from one view.
type route func(v *View, r *http.Request) (answer, *requestError)

// serve runs a route against the registry's current view.
func (h *Handler) serve(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := h.registry(w, r)
		if !ok {
			return
		}
		v := p.Load()
		if v == nil {
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("registry %q is not loaded yet", r.PathValue("registry")))
			return
		}
		a, rerr := rt(v, r)
		if rerr != nil {
			writeError(w, rerr.code, rerr.msg)
			return
		}
		writeBody(w, r, etag(v.digest, a.key), "application/json", a.body)
	}
}

// registry checks what every route checks first: the query's length and
// the registry's name.
func (h *Handler) registry(w http.ResponseWriter, r *http.Request) (*atomic.Pointer[View], bool) {
	if n := len(r.URL.RawQuery); n > maxQueryLen {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("query of %d bytes is longer than the %d bytes accepted", n, maxQueryLen))
		return nil, false
	}
	name := r.PathValue("registry")
	set := h.set.Load()
	p, ok := set.views[name]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("registry %q not found", name))
		return nil, false
	}
	if why, refused := set.refused[name]; refused {
		writeError(w, http.StatusNotFound, fmt.Sprintf("registry %q is not served: %s", name, why))
		return nil, false
	}
	return p, true
}

// openAPIETag is the ETag of the OpenAPI document, which never changes
// while the process runs.
var openAPIETag = etag("openapi", openAPIDocument)

// openAPI serves the API's OpenAPI document. It names info.version 1.0.0
// and the MCP registry's repository, which is what an MCP registry's api
// source checks before it lists servers. It does not depend on the view,
// so it is served before the view is loaded too.
func (h *Handler) openAPI(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.registry(w, r); !ok {
		return
	}
	writeBody(w, r, openAPIETag, "application/yaml", func(dst []byte) []byte { return append(dst, openAPIDocument...) })
}

// etag is the weak entity tag of the body that key names in a view of the
// given digest: the same content and request give the same tag on every
// replica.
func etag(digest string, key []byte) string {
	var buf [512]byte
	in := append(append(append(buf[:0], digest...), 0), key...)
	sum := sha256.Sum256(in)
	var tag [len(`W/""`) + 32]byte
	copy(tag[:], `W/"`)
	hex.Encode(tag[3:35], sum[:16])
	tag[35] = '"'
	return string(tag[:])
}

// writeBody answers 304 when the client already has tag, else builds the
// body in a buffer of bodyBuffers and writes it, compressed when the
// client accepts gzip.
func writeBody(w http.ResponseWriter, r *http.Request, tag, contentType string, body func(dst []byte) []byte) {
	// One array holds the values of every header set here: a header value
	// is a slice of its own, and a 304 is answered often enough that one
	// allocation instead of five shows.
	values := make([]string, 5)
	values[0], values[1], values[2] = tag, "no-cache", "Accept-Encoding"
	hd := w.Header()
	hd["Etag"] = values[0:1:1]
	hd["Cache-Control"] = values[1:2:2]
	hd["Vary"] = values[2:3:3]
	if noneMatch(r.Header.Get("If-None-Match"), tag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	buf := bodyBuffers.Get().(*[]byte)
	b := body((*buf)[:0])
	// The connection's writer and the compressor are done with b when
	// their Write returns.
	defer func() {
		if cap(b) <= maxPooledBody {
			*buf = b[:0]
			bodyBuffers.Put(buf)
		}
	}()
	values[3] = contentType
	hd["Content-Type"] = values[3:4:4]
	if len(b) < minGzipLen || !acceptsGzip(r.Header.Get("Accept-Encoding")) {
		values[4] = strconv.Itoa(len(b))
		hd["Content-Length"] = values[4:5:5]
		_, _ = w.Write(b)
		return
	}
	hd.Set("Content-Encoding", "gzip")
	gz := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(gz)
	gz.Reset(w)
	_, _ = gz.Write(b)
	_ = gz.Close()
}

// bodyBuffers are the buffers answers are built in: a page of 30 entries
// is 16 kB (130 kB for entries of 4 kB), and 64 clients asking for pages
// on two cores made one such allocation a request, and the collections
// they cost. A buffer grown past maxPooledBody (a listing of hundreds of
// entries) is left to the collector.
var bodyBuffers = sync.Pool{New: func() any { return new([]byte) }}

const maxPooledBody = 256 << 10

var gzipWriters = sync.Pool{New: func() any {
	gz, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return gz
}}

// noneMatch reports whether an If-None-Match header names tag, compared
// weakly (RFC 9110, 13.1.2).
func noneMatch(header, tag string) bool {
	if header == "" {
		return false
	}
	opaque := strings.TrimPrefix(tag, "W/")
	for c := range strings.SplitSeq(header, ",") {
		c = strings.TrimSpace(c)
		if c == "*" || strings.TrimPrefix(c, "W/") == opaque {
			return true
		}
	}
	return false
}

// acceptsGzip reports whether an Accept-Encoding header accepts gzip.
func acceptsGzip(header string) bool {
	for c := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(c), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		q, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q=")
		if !ok {
			return true
		}
		f, err := strconv.ParseFloat(q, 64)
		return err == nil && f > 0
	}
	return false
}

// writeError answers a JSON error that names the problem.
func writeError(w http.ResponseWriter, code int, msg string) {
	b, _ := json.Marshal(map[string]string{"error": msg})
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// keyOf joins a route's name and its normalised parameters into the key
// of an answer; every value is quoted, so no two requests share a key.
func keyOf(route string, values ...string) []byte {
	n := len(route)
	for _, v := range values {
		n += len(v) + 3
	}
	return appendValues(append(make([]byte, 0, n), route...), values...)
}

// appendValues appends each value to a key, quoted after a space.
func appendValues(b []byte, values ...string) []byte {
	for _, v := range values {
		b = strconv.AppendQuote(append(b, ' '), v)
	}
	return b
}

// appendPosition appends to a key, after a space, the quoted form of
// after.key + "\x00" + after.version, as appendValues would quote that
// string, without building it; "" quoted when after is nil. Quoting is rune by rune and a NUL neither ends nor continues a
// UTF-8 sequence, so quoting the parts gives the same bytes as quoting
// the whole.
func appendPosition(b []byte, after *position) []byte {
	b = append(b, ' ')
	if after == nil {
		return append(b, `""`...)
	}
	b = strconv.AppendQuote(b, after.key)
	b = append(b[:len(b)-1], `\x00`...)
	n := len(b)
	b = strconv.AppendQuote(b, after.version)
	return append(b[:n], b[n+1:]...)
}

// item is one element of a list answer: its bytes in parts, written one
// after the other, so that an entry's stored bytes go into the answer
// without a copy of their own kept in the view.
type item [][]byte

// listBody appends to b a list answer: {"<field>":[items...],"metadata":{...}}
// with metadata's fields in the order the reference writes them.
func listBody(b []byte, field string, items []item, next string, nextFirst bool) []byte {
	n := 64 + len(next)
	for _, it := range items {
		for _, part := range it {
			n += len(part)
		}
		n++
	}
	b = slices.Grow(b, n)
	b = append(b, `{"`...)
	b = append(b, field...)
	b = append(b, `":[`...)
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		for _, part := range it {
			b = append(b, part...)
		}
	}
	b = append(b, `],"metadata":{`...)
	count := strconv.AppendInt([]byte(`"count":`), int64(len(items)), 10)
	cursor := []byte(nil)
	if next != "" {
		cursor = strconv.AppendQuote([]byte(`"nextCursor":`), next)
	}
	first, second := cursor, count
	if !nextFirst {
		first, second = count, cursor
	}
	b = append(b, first...)
	if len(first) > 0 && len(second) > 0 {
		b = append(b, ',')
	}
	b = append(b, second...)
	return append(b, "}}"...)
}

// statusList parses a comma-separated list of statuses; empty means all.
func statusList(s string) ([]string, *requestError) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []string
	for st := range strings.SplitSeq(s, ",") {
		st = strings.TrimSpace(st)
		if !slices.Contains(artifactStatuses, st) {
			return nil, badRequest("invalid status %q: must be one of %s", st, strings.Join(artifactStatuses, ", "))
		}
		out = append(out, st)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
