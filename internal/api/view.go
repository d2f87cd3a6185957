package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ServerRecord is what is stored of one version of one server of a
// registry: the entry's own bytes and what the registry knows about it.
// A View is built from these records only.
type ServerRecord struct {
	// Name and Version identify the entry; they must equal the "name" and
	// "version" of JSON.
	Name    string
	Version string
	// JSON is the server entry as stored (server.json form), served as is:
	// its $schema, icons and unknown fields are kept. The view keeps these
	// bytes, not a copy, when they are compact: they must not change.
	JSON []byte
	// Digest fingerprints JSON; equal bytes give an equal digest.
	Digest string
	// PublishedAt is when the entry was first stored, UpdatedAt when its
	// content last changed (for a deleted entry: when it was removed).
	PublishedAt time.Time
	UpdatedAt   time.Time
	// Deleted marks a tombstone: a version no source has any more.
	Deleted bool
	// IsLatest marks the latest version of its name.
	IsLatest bool
}

// ArtifactRecord is what is stored of one version of a skill or a plugin,
// keyed by namespace/name like the ToolHive Registry Server's extension
// routes.
type ArtifactRecord struct {
	// Namespace, Name and Version identify the artifact; they must equal
	// the "namespace", "name" and "version" of JSON.
	Namespace string
	Name      string
	Version   string
	// JSON is the skill or plugin as stored, served as is.
	JSON []byte
	// Digest fingerprints JSON.
	Digest string
	// IsLatest marks the latest version of namespace/name.
	IsLatest bool
}

// Content is everything a registry serves.
type Content struct {
	Servers []ServerRecord
	Skills  []ArtifactRecord
	Plugins []ArtifactRecord
}

// View is one registry's content, prepared for reading: sorted, indexed
// and encoded once when built, never changed afterwards, so any number of
// requests read it at once without locks. A new content is a new View.
type View struct {
	digest string

	// all holds every server entry, tombstones included, by name then
	// version; live leaves the tombstones out; latest and latestAll keep
	// only the entries marked latest.
	all, live, latest, latestAll []*serverEntry
	// versions holds each name's entries, newest first.
	versions map[string][]*serverEntry

	skills, plugins *artifactIndex

	// search finds the entries a search of gramLen bytes or more may
	// match, without scanning all of them.
	search *searchIndex
}

// serverEntry is one server version with the bytes of its ServerResponse.
type serverEntry struct {
	name, version string
	digest        string // the record's
	search        string // lower-case name, title and description
	updatedAt     time.Time
	publishedAt   time.Time
	deleted       bool
	isLatest      bool
	// response is the entry's ServerResponse, {"server":...,"_meta":{...}},
	// in parts: the entry's JSON, compact, is the record's own bytes when
	// they are compact already (as syncs store them), so the view does not
	// keep a second copy of every entry.
	response item
	// sum fingerprints the record (contentDigest).
	sum [sha256.Size]byte
}

// serverOpen opens a ServerResponse.
var serverOpen = []byte(`{"server":`)

// Digest is the fingerprint of the view's content: equal content gives an
// equal digest on every replica.
func (v *View) Digest() string { return v.digest }

// officialMetaKey is where the registry's own metadata of an entry goes.
const officialMetaKey = "io.modelcontextprotocol.registry/official"

// Build prepares content for serving. It checks every record and names
// each record that is wrong; nothing is served from content with an error.
func Build(c Content) (*View, error) { return Rebuild(nil, c) }

// Rebuild is Build reusing what prev, the view of the previous content,
// prepared for every server record that did not change (same name,
// version, digest, times, deleted and latest marks): a change of a few
// records of a large registry prepares those records only. A nil prev is
// Build.
func Rebuild(prev *View, c Content) (*View, error) {
	entries, fresh, errs := prev.prepare(c.Servers)
	skills, err := newArtifactIndex("skill", c.Skills)
	if err != nil {
		errs = append(errs, err)
	}
	plugins, err := newArtifactIndex("plugin", c.Plugins)
	if err != nil {
		errs = append(errs, err)
	}
	slices.SortFunc(entries, byKey)
	errs = append(errs, checkServers(entries)...)
	if len(errs) > 0 {
		return nil, fmt.Errorf("build view: %w", errors.Join(errs...))
	}
	v := &View{all: entries, versions: map[string][]*serverEntry{}, skills: skills, plugins: plugins}
	for _, e := range entries {
		v.versions[e.name] = append(v.versions[e.name], e)
	}
	for _, vs := range v.versions {
		slices.SortStableFunc(vs, newestFirst)
	}
	if prev == nil {
		v.search = newSearchIndex(v.all)
	} else {
		v.search = prev.search.next(v.all, prev.removedIn(v, len(entries)-len(fresh)), fresh)
	}
	v.finish()
	return v, nil
}

// Names lists the names whose records a Patch replaces: servers by name,
// skills and plugins by namespace/name.
type Names struct {
	Servers, Skills, Plugins []string
}

// Patch is Rebuild for a content that differs from prev's only in the
// names listed: c holds every record of those names (a name listed
// without records is no longer served) and no other record. It prepares
// the records of those names only and takes every other entry from prev
// as it is, so its work grows with the change, not with the registry.
// The view equals Build of the whole content: the same answers, order,
// digest and search results. A nil prev is Build of c.
func Patch(prev *View, names Names, c Content) (*View, error) {
	if prev == nil {
		return Build(c)
	}
	changed := make(map[string]bool, len(names.Servers))
	for _, n := range names.Servers {
		changed[n] = true
	}
	entries, fresh, errs := prev.prepare(c.Servers)
	for _, e := range entries {
		if !changed[e.name] {
			errs = append(errs, fmt.Errorf("server %s %s: its name is not one the patch lists", e.name, e.version))
		}
	}
	skills, err := prev.skills.patch("skill", names.Skills, c.Skills)
	if err != nil {
		errs = append(errs, err)
	}
	plugins, err := prev.plugins.patch("plugin", names.Plugins, c.Plugins)
	if err != nil {
		errs = append(errs, err)
	}
	slices.SortFunc(entries, byKey)
	errs = append(errs, checkServers(entries)...)
	if len(errs) > 0 {
		return nil, fmt.Errorf("patch view: %w", errors.Join(errs...))
	}
	v := &View{all: make([]*serverEntry, 0, len(prev.all)+len(entries)), versions: maps.Clone(prev.versions),
		skills: skills, plugins: plugins}
	var removed []*serverEntry // prepared for prev and not kept
	for n := range changed {
		for _, e := range prev.versions[n] {
			if !slices.Contains(entries, e) {
				removed = append(removed, e)
			}
		}
	}
	// prev.all with the entries of each changed name, found by binary
	// search, replaced by its new ones: in name then version order.
	rest, added := prev.all, entries
	for _, n := range slices.Sorted(maps.Keys(changed)) {
		i := sort.Search(len(rest), func(i int) bool { return rest[i].name >= n })
		v.all, rest = append(v.all, rest[:i]...), rest[i:]
		j := 0
		for j < len(added) && added[j].name == n {
			j++
		}
		v.all, added = append(v.all, added[:j]...), added[j:]
		i = sort.Search(len(rest), func(i int) bool { return rest[i].name > n })
		rest = rest[i:]
	}
	v.all = append(v.all, rest...)
	for n := range changed {
		delete(v.versions, n)
	}
	for _, e := range entries {
		v.versions[e.name] = append(v.versions[e.name], e)
	}
	for n := range changed {
		slices.SortStableFunc(v.versions[n], newestFirst)
	}
	v.search = prev.search.next(v.all, removed, fresh)
	v.finish()
	return v, nil
}

// prepare returns an entry for each record, taken from v when v prepared
// one for an equal record (fresh lists the others), and an error naming
// each record that is wrong.
func (v *View) prepare(records []ServerRecord) (entries, fresh []*serverEntry, errs []error) {
	entries = make([]*serverEntry, 0, len(records))
	for i := range records {
		if e := v.prepared(&records[i]); e != nil {
			entries = append(entries, e)
			continue
		}
		e, err := newServerEntry(&records[i])
		if err != nil {
			errs = append(errs, fmt.Errorf("server %d (%s %s): %w", i, records[i].Name, records[i].Version, err))
			continue
		}
		entries = append(entries, e)
		fresh = append(fresh, e)
	}
	return entries, fresh, errs
}

// checkServers names each server version of entries, in name then
// version order, stored twice, and each name with two versions marked
// latest.
func checkServers(entries []*serverEntry) []error {
	var errs []error
	var latest *serverEntry
	for i, e := range entries {
		if i > 0 && entries[i-1].name == e.name && entries[i-1].version == e.version {
			errs = append(errs, fmt.Errorf("server %s %s: stored twice", e.name, e.version))
		}
		if latest != nil && latest.name != e.name {
			latest = nil
		}
		if e.isLatest {
			if latest != nil {
				errs = append(errs, fmt.Errorf("server %s: versions %s and %s are both marked latest", e.name, latest.version, e.version))
			}
			latest = e
		}
	}
	return errs
}

// finish derives from v.all, in name then version order, the listings
// of live and latest entries and the digest.
func (v *View) finish() {
	for _, e := range v.all {
		if !e.deleted {
			v.live = append(v.live, e)
		}
		if e.isLatest {
			v.latestAll = append(v.latestAll, e)
			if !e.deleted {
				v.latest = append(v.latest, e)
			}
		}
	}
	v.digest = v.contentDigest()
}

func byKey(a, b *serverEntry) int { return compareKey(a.name, a.version, b.name, b.version) }

// removedIn returns the entries of v that next, rebuilt from v with kept
// of them, no longer has.
func (v *View) removedIn(next *View, kept int) []*serverEntry {
	if kept == len(v.all) {
		return nil
	}
	var removed []*serverEntry
	for _, e := range v.all {
		if !slices.Contains(next.versions[e.name], e) {
			removed = append(removed, e)
		}
	}
	return removed
}

// prepared returns the entry v prepared for a record equal to r, or nil.
func (v *View) prepared(r *ServerRecord) *serverEntry {
	if v == nil {
		return nil
	}
	for _, e := range v.versions[r.Name] {
		if e.version == r.Version && e.digest == r.Digest && e.deleted == r.Deleted && e.isLatest == r.IsLatest &&
			e.publishedAt.Equal(r.PublishedAt) && e.updatedAt.Equal(r.UpdatedAt) {
			return e
		}
	}
	return nil
}

// newestFirst orders one name's versions by publication, newest first, as
// the MCP registry API does; versions published together by version,
// highest string first.
func newestFirst(a, b *serverEntry) int {
	if c := b.publishedAt.Compare(a.publishedAt); c != 0 {
		return c
	}
	return strings.Compare(b.version, a.version)
}

// compareKey orders by name, then by version string.
func compareKey(aName, aVersion, bName, bVersion string) int {
	if c := strings.Compare(aName, bName); c != 0 {
		return c
	}
	return strings.Compare(aVersion, bVersion)
}

// identity is the part of a stored entry the view reads.
type identity struct {
	Namespace   string `json:"namespace"`
	Name        string `json:"name"`
	Version     string `json:"version"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Status      string `json:"status"`
}

// readIdentity decodes what the view indexes from raw and checks that it
// is the entry the record names. namespace is "" for a server, which is
// identified by name and version alone.
func readIdentity(raw []byte, namespace, name, version, digest string) (identity, error) {
	var id identity
	switch {
	case name == "":
		return id, errors.New("no name")
	case version == "":
		return id, errors.New("no version")
	case digest == "":
		return id, errors.New("no digest")
	}
	if err := json.Unmarshal(raw, &id); err != nil {
		return id, fmt.Errorf("stored JSON: %w", err)
	}
	if namespace == "" {
		// A server has no namespace: a field of that name is one of its
		// unknown fields, not part of what identifies it.
		id.Namespace = ""
	}
	if id.Namespace != namespace || id.Name != name || id.Version != version {
		return id, fmt.Errorf("stored JSON is %q, not the record's %q", id.key(), identity{Namespace: namespace, Name: name, Version: version}.key())
	}
	return id, nil
}

func (id identity) key() string {
	k := id.Name + " " + id.Version
	if id.Namespace != "" {
		k = id.Namespace + "/" + k
	}
	return k
}

func newServerEntry(r *ServerRecord) (*serverEntry, error) {
	id, err := readIdentity(r.JSON, "", r.Name, r.Version, r.Digest)
	if err != nil {
		return nil, err
	}
	server, err := compact(r.JSON)
	if err != nil {
		return nil, fmt.Errorf("stored JSON: %w", err)
	}
	status := "active"
	if r.Deleted {
		status = "deleted"
	}
	official := struct {
		Status      string    `json:"status"`
		PublishedAt time.Time `json:"publishedAt"`
		UpdatedAt   time.Time `json:"updatedAt"`
		IsLatest    bool      `json:"isLatest"`
	}{status, r.PublishedAt.UTC(), r.UpdatedAt.UTC(), r.IsLatest}
	meta, err := json.Marshal(map[string]any{officialMetaKey: official})
	if err != nil {
		return nil, fmt.Errorf("encode _meta: %w", err)
	}
	tail := make([]byte, 0, len(`,"_meta":}`)+len(meta))
	tail = append(tail, `,"_meta":`...)
	tail = append(tail, meta...)
	tail = append(tail, '}')
	return &serverEntry{
		name:        r.Name,
		version:     r.Version,
		digest:      r.Digest,
		search:      searchText(id),
		updatedAt:   r.UpdatedAt,
		publishedAt: r.PublishedAt,
		deleted:     r.Deleted,
		isLatest:    r.IsLatest,
		response:    item{serverOpen, server, tail},
		sum: recordSum("server", r.Name, r.Version, r.Digest, r.PublishedAt.UTC().Format(time.RFC3339Nano),
			r.UpdatedAt.UTC().Format(time.RFC3339Nano), strconv.FormatBool(r.Deleted), strconv.FormatBool(r.IsLatest)),
	}, nil
}

// compact returns raw without insignificant whitespace: raw itself when
// it has none, else a compacted copy.
func compact(raw []byte) ([]byte, error) {
	inString, escaped := false, false
	for _, c := range raw {
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case !inString && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			var b bytes.Buffer
			if err := json.Compact(&b, raw); err != nil {
				return nil, err
			}
			return b.Bytes(), nil
		}
	}
	return raw, nil
}

// searchText is what a case-insensitive search looks in: name, title and
// description, lower-cased and kept apart so no match spans two of them.
func searchText(id identity) string {
	return strings.ToLower(id.Name + "\x00" + id.Title + "\x00" + id.Description)
}

// contentDigest fingerprints every record the view serves, with the
// registry's metadata of each: the fingerprint of each entry, in the
// view's order, which content alone decides, so a view of equal content
// has an equal digest whatever order the records came in and however the
// view was made.
func (v *View) contentDigest() string {
	h := sha256.New()
	for _, e := range v.all {
		h.Write(e.sum[:])
	}
	for _, idx := range []*artifactIndex{v.skills, v.plugins} {
		for _, a := range idx.all {
			h.Write(a.sum[:])
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// recordSum fingerprints one record of a view: its kind and fields.
func recordSum(fields ...string) [sha256.Size]byte {
	return sha256.Sum256([]byte(strings.Join(fields, "\x00")))
}
