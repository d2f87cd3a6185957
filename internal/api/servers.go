package api

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Limits of a server listing, as the reference serves them.
const (
	defaultServerLimit = 30
	maxServerLimit     = 1000
)

// position is where a listing stands: after the entry (or artifact) of
// this key and version.
type position struct {
	key, version string
}

// encodeCursor makes the opaque cursor that resumes a listing after p. It
// names an entry, not an offset, so a listing resumed on a newer view
// neither skips nor repeats entries that stayed.
func encodeCursor(p position) string {
	return base64.RawURLEncoding.EncodeToString([]byte(p.key + "\x00" + p.version))
}

func decodeCursor(s string) (position, *requestError) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return position{}, badRequest("invalid cursor %q: not a cursor this API returned", s)
	}
	key, version, ok := strings.Cut(string(raw), "\x00")
	if !ok || key == "" || version == "" {
		return position{}, badRequest("invalid cursor %q: not a cursor this API returned", s)
	}
	return position{key, version}, nil
}

// parseLimit reads the limit parameter: def when absent, at most max
// (capped when capAbove, else refused).
func parseLimit(q url.Values, def, max int, capAbove bool) (int, *requestError) {
	s := q.Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	switch {
	case err != nil:
		return 0, badRequest("invalid limit %q: must be an integer", s)
	case n < 1:
		return 0, badRequest("invalid limit %d: must be at least 1", n)
	case n > max && capAbove:
		return max, nil
	case n > max:
		return 0, badRequest("invalid limit %d: must be between 1 and %d", n, max)
	}
	return n, nil
}

// serverQuery is a server listing's parameters, parsed.
type serverQuery struct {
	after          *position
	limit          int
	search         string // lower-case
	since          time.Time
	version        string // "", "latest" or an exact version
	includeDeleted bool
}

func parseServerQuery(q url.Values) (serverQuery, *requestError) {
	var p serverQuery
	var rerr *requestError
	if c := q.Get("cursor"); c != "" {
		pos, rerr := decodeCursor(c)
		if rerr != nil {
			return p, rerr
		}
		p.after = &pos
	}
	if p.limit, rerr = parseLimit(q, defaultServerLimit, maxServerLimit, true); rerr != nil {
		return p, rerr
	}
	p.search = strings.ToLower(q.Get("search"))
	p.version = q.Get("version")
	if p.includeDeleted, rerr = includeDeleted(q); rerr != nil {
		return p, rerr
	}
	if s := q.Get("updated_since"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return p, badRequest("invalid updated_since %q: must be an RFC 3339 time such as 2025-08-07T13:15:04Z", s)
		}
		// An incremental reader must learn of removals: a request that
		// refuses them asks for something the API cannot answer.
		if q.Get("include_deleted") != "" && !p.includeDeleted {
			return p, badRequest("include_deleted=false contradicts updated_since, which always lists removed versions")
		}
		p.since = t
		p.includeDeleted = true
	}
	return p, nil
}

// key is the query in normal form.
func (p serverQuery) key() string {
	after := ""
	if p.after != nil {
		after = p.after.key + "\x00" + p.after.version
	}
	since := ""
	if !p.since.IsZero() {
		since = strconv.FormatInt(p.since.UnixNano(), 10)
	}
	return keyOf("servers", after, strconv.Itoa(p.limit), p.search, since, p.version, strconv.FormatBool(p.includeDeleted))
}

// list is the precomputed listing the query reads.
func (p serverQuery) list(v *View) []*serverEntry {
	switch {
	case p.version == "latest" && p.includeDeleted:
		return v.latestAll
	case p.version == "latest":
		return v.latest
	case p.includeDeleted:
		return v.all
	}
	return v.live
}

func (p serverQuery) match(e *serverEntry) bool {
	if p.version != "" && p.version != "latest" && e.version != p.version {
		return false
	}
	if !p.since.IsZero() && !e.updatedAt.After(p.since) {
		return false
	}
	return p.search == "" || strings.Contains(e.search, p.search)
}

// listed reports whether e is on the listing p reads (p.list), for
// entries found through the search index, which holds every entry.
func (p serverQuery) listed(e *serverEntry) bool {
	return (p.version != "latest" || e.isLatest) && (p.includeDeleted || !e.deleted)
}

// listServers answers GET …/v0.1/servers.
func listServers(v *View, r *http.Request) (answer, *requestError) {
	p, rerr := parseServerQuery(r.URL.Query())
	if rerr != nil {
		return answer{}, rerr
	}
	return answer{key: p.key(), body: func(dst []byte) []byte { return serverPage(dst, v, p) }}, nil
}

// serverPage appends to dst the page of v's servers that p asks for: from
// the entries the search index finds when it can answer p's search, else
// from p's listing.
func serverPage(dst []byte, v *View, p serverQuery) []byte {
	pg := page{query: p, items: make([]item, 0, min(p.limit, len(p.list(v))))}
	if len(p.search) >= gramLen && v.search != nil {
		for e := range v.search.candidates(p.search, p.after) {
			if p.listed(e) && !pg.add(e) {
				break
			}
		}
		return pg.body(dst)
	}
	list := p.list(v)
	start := 0
	if p.after != nil {
		start = sort.Search(len(list), func(i int) bool {
			return compareKey(list[i].name, list[i].version, p.after.key, p.after.version) > 0
		})
	}
	for _, e := range list[start:] {
		if !pg.add(e) {
			break
		}
	}
	return pg.body(dst)
}

// page collects the entries of a listing's page, in order.
type page struct {
	query serverQuery
	items []item
	last  *serverEntry
	next  string
}

// add takes e onto the page when the query matches it, and reports
// whether the page wants more entries.
func (pg *page) add(e *serverEntry) bool {
	if !pg.query.match(e) {
		return true
	}
	if len(pg.items) == pg.query.limit {
		pg.next = encodeCursor(position{pg.last.name, pg.last.version})
		return false
	}
	pg.items = append(pg.items, e.response)
	pg.last = e
	return true
}

func (pg *page) body(dst []byte) []byte { return listBody(dst, "servers", pg.items, pg.next, true) }

// serverVersions answers GET …/servers/{serverName}/versions: every
// version of the name, newest first.
func serverVersions(v *View, r *http.Request) (answer, *requestError) {
	name := r.PathValue("serverName")
	deleted, rerr := includeDeleted(r.URL.Query())
	if rerr != nil {
		return answer{}, rerr
	}
	var items []item
	for _, e := range v.versions[name] {
		if deleted || !e.deleted {
			items = append(items, e.response)
		}
	}
	if len(items) == 0 {
		return answer{}, notFound("server %q not found", name)
	}
	return answer{
		key:  keyOf("versions", name, strconv.FormatBool(deleted)),
		body: func(dst []byte) []byte { return listBody(dst, "servers", items, "", true) },
	}, nil
}

// serverVersion answers GET …/servers/{serverName}/versions/{version},
// where version may be "latest".
func serverVersion(v *View, r *http.Request) (answer, *requestError) {
	name, version := r.PathValue("serverName"), r.PathValue("version")
	deleted, rerr := includeDeleted(r.URL.Query())
	if rerr != nil {
		return answer{}, rerr
	}
	vs := v.versions[name]
	if len(vs) == 0 {
		return answer{}, notFound("server %q not found", name)
	}
	for _, e := range vs {
		if (e.version == version || version == "latest" && e.isLatest) && (deleted || !e.deleted) {
			return answer{key: keyOf("version", name, e.version, strconv.FormatBool(deleted)), body: func(dst []byte) []byte { return appendItem(dst, e.response) }}, nil
		}
	}
	return answer{}, notFound("server %q has no version %q", name, version)
}

func includeDeleted(q url.Values) (bool, *requestError) {
	s := q.Get("include_deleted")
	if s == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, badRequest("invalid include_deleted %q: must be true or false", s)
	}
	return b, nil
}
