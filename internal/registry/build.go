package registry

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"

	upstreamv0 "github.com/modelcontextprotocol/registry/pkg/api/v0"
	thvregistry "github.com/stacklok/toolhive-core/registry/types"
)

// Built is what a sync stores for a source: the snapshot bytes, the counts
// after filtering and the digest index of the kept servers; and the counts
// of the source before filtering.
type Built struct {
	// Data is the snapshot (see [Snapshot]).
	Data                     []byte
	Servers, Skills, Plugins int
	Index                    Index
	// Entries are the entries Data holds, each one's bytes (see Lists).
	Entries Lists
	// Source counts the entries of the source, before filtering.
	Source Tally
}

// Kept counts the entries kept by the filter: what Data holds.
func (b *Built) Kept() Tally { return Tally{Servers: b.Servers, Skills: b.Skills, Plugins: b.Plugins} }

// Build validates raw registry bytes as [Parse] does, applies the filter
// and returns the snapshot with its counts and digest index. It accepts and
// rejects exactly what Parse does, with the same errors, and its snapshot
// is the one [Snapshot] cuts; but it never holds the whole registry
// decoded: each server entry is checked, decoded and fingerprinted on its
// own, on every core, and dropped. Memory stays near the size of raw and
// time falls with the cores.
//
// Input the entry-wise path is not sure about (invalid data, keys spelled
// in another case, duplicate lists, numbers beyond float64) goes through
// Parse and Snapshot, so errors keep their wording.
func Build(raw []byte, f *Filter) (*Built, error) {
	return new(Builder).Build(raw, f)
}

// Builder is Build with a memory: it keeps what it learned of each server
// entry of the last registry it built, by the digest of the entry's
// bytes, so that the next build of a registry in which a few entries
// changed checks and decodes only those. Checking an entry depends on
// nothing but its bytes, so an entry met again needs only hashing. It
// keeps the entries of the last build only: its memory follows the
// registry. Safe for concurrent use; the zero Builder is ready.
type Builder struct {
	mu      sync.Mutex
	checked map[digest]entry
}

// Build is the package's Build, reusing the entries of the last build.
func (bl *Builder) Build(raw []byte, f *Filter) (*Built, error) {
	return bl.BuildAccepting(raw, f, nil)
}

// BuildAccepting is Build for a source whose entries may have passed the
// checks of a build elsewhere: a server entry that is not among those of
// this Builder's last build, and that accepted reports by its
// EntryDigest, is decoded without being checked again (the schemas are
// most of a build's work and allocation). regsync passes the digests of
// the records it stored of the source, every one of which a sync
// checked, so a replica that did not sync the source's last version does
// not check all of its entries again for an edit of one. A nil accepted
// accepts nothing.
func (bl *Builder) BuildAccepting(raw []byte, f *Filter, accepted Accepted) (*Built, error) {
	bl.mu.Lock()
	defer bl.mu.Unlock()
	b, checked, ok := buildEntrywise(raw, f, bl.checked, accepted)
	if ok {
		bl.checked = checked
		return b, nil
	}
	reg, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	filtered, data, err := Snapshot(raw, reg, f)
	if err != nil {
		return nil, err
	}
	lists, err := SnapshotLists(data)
	if err != nil {
		return nil, err
	}
	b = &Built{Data: data, Index: IndexOf(filtered), Entries: lists, Source: TallyOf(reg)}
	b.Servers, b.Skills, b.Plugins = Counts(filtered)
	return b, nil
}

// Accepted reports whether the server entry whose bytes have the given
// EntryDigest passed every check of an earlier build.
type Accepted func(digest [sha256.Size]byte) bool

// EntryDigest is the SHA-256 of an entry's bytes without insignificant
// white space (json.Compact): the digest of the record regsync stores of
// the entry.
func EntryDigest(raw []byte) [sha256.Size]byte { return entryDigest(new(bytes.Buffer), raw) }

// entryDigest is EntryDigest compacting into buf.
func entryDigest(buf *bytes.Buffer, raw []byte) [sha256.Size]byte {
	buf.Reset()
	if err := json.Compact(buf, raw); err != nil {
		return sha256.Sum256(raw)
	}
	return sha256.Sum256(buf.Bytes())
}

// span is a value's position in a document: raw[start:end].
type span struct{ start, end int }

type member struct {
	key string
	val span
}

// entry is what Build learns of one server entry: it passed every check
// (ok), its name and tags, and its digest for the index.
type entry struct {
	name   string
	tags   []string
	digest digest
	ok     bool
}

// buildEntrywise is Build's fast path, reusing the entries checked before
// (by the digest of their bytes) and returning those it checked now. It
// reports false for any input it does not accept, which Build then hands
// to Parse.
func buildEntrywise(raw []byte, f *Filter, before map[digest]entry, accepted Accepted) (*Built, map[digest]entry, bool) {
	s, err := compiledSchemas()
	if err != nil || len(raw) == 0 || !json.Valid(raw) {
		return nil, nil, false
	}
	top, ok := objectMembers(raw, span{0, len(raw)})
	if !ok {
		return nil, nil, false
	}
	// The document without its server entries: validated against the
	// registry schema, whose only rule on servers is the schema of each.
	doc := make(map[string]any, len(top))
	var data map[string]any
	var dataMembers []member
	for _, m := range top {
		if !exactKey(m.key, "$schema", "version", "meta", "data") {
			return nil, nil, false
		}
		if m.key == "data" {
			if dataMembers, ok = objectMembers(raw, m.val); !ok {
				return nil, nil, false
			}
			data = make(map[string]any, len(dataMembers))
			doc["data"] = data
			continue
		}
		v, ok := tree(raw, m.val)
		if !ok {
			return nil, nil, false
		}
		doc[m.key] = v
	}
	lists := map[string]span{}
	for _, m := range dataMembers {
		if !exactKey(m.key, "servers", "skills", "plugins") {
			return nil, nil, false
		}
		var v any
		if m.key == "servers" {
			// Its entries are checked one by one below.
			v, ok = []any{}, raw[m.val.start] == '['
		} else {
			v, ok = tree(raw, m.val)
		}
		if !ok {
			return nil, nil, false
		}
		data[m.key] = v
		if m.key != "servers" || raw[m.val.start] == '[' {
			lists[m.key] = m.val
		}
	}
	if s.registry.Validate(doc) != nil {
		return nil, nil, false
	}
	var reg thvregistry.UpstreamRegistry
	for _, m := range top {
		var err error
		switch m.key {
		case "$schema":
			err = json.Unmarshal(raw[m.val.start:m.val.end], &reg.Schema)
		case "version":
			err = json.Unmarshal(raw[m.val.start:m.val.end], &reg.Version)
		case "meta":
			err = json.Unmarshal(raw[m.val.start:m.val.end], &reg.Meta)
		}
		if err != nil {
			return nil, nil, false
		}
	}
	for key, dst := range map[string]any{"skills": &reg.Data.Skills, "plugins": &reg.Data.Plugins} {
		if sp, ok := lists[key]; ok && json.Unmarshal(raw[sp.start:sp.end], dst) != nil {
			return nil, nil, false
		}
	}
	servers, ok := arrayElements(raw, lists["servers"])
	if !ok || len(servers) == 0 {
		return nil, nil, false
	}
	entries, checked := checkServers(raw, servers, s, before, accepted)
	var names nameMatcher
	var tags tagMatcher
	if f != nil {
		names, tags = compileNames(f.Names), compileTags(f.Tags)
	}
	index := make(map[string][]digest)
	var kept []span
	for i, e := range entries {
		if !e.ok {
			return nil, nil, false
		}
		if f == nil || names.match(e.name) && (!tags.active() || tags.match(e.tags)) {
			kept = append(kept, servers[i])
			index[e.name] = append(index[e.name], e.digest)
		}
	}
	b := &Built{Data: raw, Servers: len(kept), Index: indexOf(index)}
	b.Skills, b.Plugins = len(reg.Data.Skills), len(reg.Data.Plugins)
	b.Source = Tally{Servers: len(servers), Skills: b.Skills, Plugins: b.Plugins}
	if f == nil {
		b.Entries = Lists{Servers: bytesOf(raw, kept), Skills: bytesOf(raw, pick(raw, lists["skills"], indexes(b.Skills))),
			Plugins: bytesOf(raw, pick(raw, lists["plugins"], indexes(b.Plugins)))}
		return b, checked, true
	}
	sel := selectEntries(&reg, f) // skills and plugins only: reg holds no servers
	b.Skills, b.Plugins = len(sel.skills), len(sel.plugins)
	b.Entries = Lists{Servers: bytesOf(raw, kept), Skills: bytesOf(raw, pick(raw, lists["skills"], sel.skills)),
		Plugins: bytesOf(raw, pick(raw, lists["plugins"], sel.plugins))}
	b.Data, ok = cutSnapshot(raw, top, dataMembers, map[string][]span{
		"servers": kept,
		"skills":  pick(raw, lists["skills"], sel.skills),
		"plugins": pick(raw, lists["plugins"], sel.plugins),
	})
	return b, checked, ok
}

// checkServers checks, decodes and fingerprints every server entry that
// is not among those checked before (decoding only those accepted), on as
// many goroutines as there are cores, and returns the entries in order
// and by the digest of their bytes.
func checkServers(raw []byte, servers []span, s *schemas, before map[digest]entry, accepted Accepted) ([]entry, map[digest]entry) {
	entries := make([]entry, len(servers))
	keys := make([]digest, len(servers))
	workers := min(runtime.GOMAXPROCS(0), len(servers))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			var buf bytes.Buffer
			for i := w; i < len(servers); i += workers {
				sp := servers[i]
				keys[i] = sha256.Sum256(raw[sp.start:sp.end])
				if e, ok := before[keys[i]]; ok {
					entries[i] = e
					continue
				}
				if accepted != nil && accepted(entryDigest(&buf, raw[sp.start:sp.end])) {
					entries[i] = decodeServer(raw, sp)
					continue
				}
				entries[i] = checkServer(raw, sp, s)
			}
		})
	}
	wg.Wait()
	checked := make(map[digest]entry, len(servers))
	for i, e := range entries {
		if e.ok {
			checked[keys[i]] = e
		}
	}
	return entries, checked
}

// checkServer does for one server entry what Parse does for each: the
// server schema, the publisher-provided extensions, the typed decoding,
// and the name and description rules. ok is false when any fails.
func checkServer(raw []byte, sp span, s *schemas) entry {
	v, ok := tree(raw, sp)
	if !ok || s.server.Validate(v) != nil {
		return entry{}
	}
	if server, ok := v.(map[string]any); ok && validateServerExtensions(s.publisher, server, 0) != "" {
		return entry{}
	}
	return decodeServer(raw, sp)
}

// decodeServer does for one server entry what Parse does for each after
// the schemas: the typed decoding and the name and description rules.
func decodeServer(raw []byte, sp span) entry {
	var server upstreamv0.ServerJSON
	if json.Unmarshal(raw[sp.start:sp.end], &server) != nil || server.Name == "" || server.Description == "" {
		return entry{}
	}
	return entry{name: server.Name, tags: ExtractTags(&server), digest: serverDigest(&server), ok: true}
}

// cutSnapshot writes the snapshot of a filtered registry as rawSnapshot
// does: every member as the source wrote it, keys sorted (the last of a
// repeated key), each list holding only the kept entries. The snapshot is
// written once, into a buffer of its size: it is as large as the
// registry.
func cutSnapshot(raw []byte, top, dataMembers []member, lists map[string][]span) ([]byte, bool) {
	var p pieces
	p.object(raw, top, func(m member) bool {
		if m.key != "data" {
			return false
		}
		p.object(raw, dataMembers, func(m member) bool {
			kept, ok := lists[m.key]
			if !ok {
				return false
			}
			p.add([]byte{'['})
			for i, sp := range kept {
				if i > 0 {
					p.add([]byte{','})
				}
				p.add(raw[sp.start:sp.end])
			}
			p.add([]byte{']'})
			return true
		})
		return true
	})
	return p.join(), true
}

// pieces are the parts of a document being cut, joined once at the end.
type pieces struct {
	parts [][]byte
	size  int
}

func (p *pieces) add(b []byte) {
	p.parts = append(p.parts, b)
	p.size += len(b)
}

func (p *pieces) join() []byte {
	out := make([]byte, 0, p.size)
	for _, b := range p.parts {
		out = append(out, b...)
	}
	return out
}

// object adds members as an object, keys sorted, the last of a repeated
// key only; each value as raw holds it, unless value adds it and reports
// true.
func (p *pieces) object(raw []byte, members []member, value func(member) bool) {
	last := make(map[string]member, len(members))
	for _, m := range members {
		last[m.key] = m
	}
	p.add([]byte{'{'})
	for i, k := range slices.Sorted(maps.Keys(last)) {
		if i > 0 {
			p.add([]byte{','})
		}
		key, _ := json.Marshal(k)
		p.add(key)
		p.add([]byte{':'})
		if m := last[k]; !value(m) {
			p.add(raw[m.val.start:m.val.end])
		}
	}
	p.add([]byte{'}'})
}

// bytesOf returns the bytes of each span of raw.
func bytesOf(raw []byte, spans []span) [][]byte {
	if len(spans) == 0 {
		return nil
	}
	out := make([][]byte, len(spans))
	for i, sp := range spans {
		out[i] = raw[sp.start:sp.end]
	}
	return out
}

// indexes returns 0, 1, … n-1.
func indexes(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// pick returns the spans of the chosen elements of the array at sp.
func pick(raw []byte, sp span, chosen []int) []span {
	if sp == (span{}) {
		return nil
	}
	all, _ := arrayElements(raw, sp)
	out := make([]span, 0, len(chosen))
	for _, i := range chosen {
		out = append(out, all[i])
	}
	return out
}

// exactKey reports whether key is one of known, and false also for a key
// that matches one of them only case-insensitively, which encoding/json
// would take for it.
func exactKey(key string, known ...string) bool {
	for _, k := range known {
		if key == k {
			return true
		}
		if strings.EqualFold(key, k) {
			return false
		}
	}
	return true
}

// tree builds the value tree at sp; false for a number beyond float64,
// which Validate handles.
func tree(raw []byte, sp span) (any, bool) {
	b := treeBuilder{data: raw[:sp.end], pos: sp.start}
	v, err := b.value()
	return v, err == nil && !b.floatOverflow
}

// objectMembers lists the members of the object at sp, in order; false
// when the value there is not an object. raw must be valid JSON.
func objectMembers(raw []byte, sp span) ([]member, bool) {
	b := treeBuilder{data: raw[:sp.end], pos: sp.start}
	b.skipSpace()
	if b.data[b.pos] != '{' {
		return nil, false
	}
	b.pos++
	var out []member
	for {
		b.skipSpace()
		if b.data[b.pos] == '}' {
			return out, true
		}
		key, err := b.string()
		if err != nil {
			return nil, false
		}
		b.skipSpace()
		b.pos++ // :
		b.skipSpace()
		start := b.pos
		b.skip()
		out = append(out, member{key: key, val: span{start, b.pos}})
		b.skipSpace()
		if b.data[b.pos] == ',' {
			b.pos++
		}
	}
}

// arrayElements lists the elements of the array at sp; false when the
// value there is not an array. raw must be valid JSON.
func arrayElements(raw []byte, sp span) ([]span, bool) {
	if sp == (span{}) {
		return nil, false
	}
	b := treeBuilder{data: raw[:sp.end], pos: sp.start}
	b.skipSpace()
	if b.data[b.pos] != '[' {
		return nil, false
	}
	b.pos++
	var out []span
	for {
		b.skipSpace()
		if b.data[b.pos] == ']' {
			return out, true
		}
		start := b.pos
		b.skip()
		out = append(out, span{start, b.pos})
		b.skipSpace()
		if b.data[b.pos] == ',' {
			b.pos++
		}
	}
}

// skip moves past one value without building it.
func (b *treeBuilder) skip() {
	b.skipSpace()
	switch b.data[b.pos] {
	case '{', '[':
		depth := 0
		for {
			switch b.data[b.pos] {
			case '"':
				b.skipString()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			b.pos++
			if depth == 0 {
				return
			}
		}
	case '"':
		b.skipString()
	case 't', 'n':
		b.pos += 4
	case 'f':
		b.pos += 5
	default:
		for b.pos < len(b.data) && isNumberByte(b.data[b.pos]) {
			b.pos++
		}
	}
}

func (b *treeBuilder) skipString() {
	b.pos++ // opening quote
	for {
		switch b.data[b.pos] {
		case '\\':
			b.pos += 2
		case '"':
			b.pos++
			return
		default:
			b.pos++
		}
	}
}
