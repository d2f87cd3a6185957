package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"

	"github.com/gobwas/glob"
	upstreamv0 "github.com/modelcontextprotocol/registry/pkg/api/v0"
	thvregistry "github.com/stacklok/toolhive-core/registry/types"
)

// Filter selects which entries of a registry a source keeps. It is the
// `filter:` section of a source in the configuration, with the ToolHive
// Registry Server's semantics.
type Filter struct {
	Names *PatternSet `json:"names,omitempty" yaml:"names,omitempty"`
	Tags  *PatternSet `json:"tags,omitempty" yaml:"tags,omitempty"`
}

// PatternSet is an include and an exclude list. For names they are globs,
// for tags exact strings.
type PatternSet struct {
	Include []string `json:"include,omitempty" yaml:"include,omitempty"`
	Exclude []string `json:"exclude,omitempty" yaml:"exclude,omitempty"`
}

// Apply returns the entries of reg that f selects, with the ToolHive
// Registry Server's filter semantics:
//
//   - a nil filter returns reg itself, and so does a nil reg; any other
//     filter returns a new registry with the same $schema, version and
//     meta, non-nil (possibly empty) server, skill and plugin slices, and
//     the input order kept;
//   - a server is kept when its name passes the name patterns and its tags
//     ([ExtractTags]) pass the tag lists;
//   - skills and plugins are kept when "namespace/name" passes the name
//     patterns; tag lists do not apply to them.
//
// Kept entries are copied by value, so their maps and slices are shared
// with reg. Patterns are compiled once per call.
//
// Names: an entry matching any exclude pattern is dropped; then, if there
// are include patterns, it is kept only when one of them matches. Patterns
// are gobwas/glob globs without separators, so `*` also matches `/`; `?`,
// `[a-z]`, `[!a]`, `{a,b}` and `\` escapes work as usual; matching is
// case-sensitive and an empty pattern matches only the empty name. A
// malformed pattern never errors: an entry checked against it is dropped
// (see [Filter.Validate]). Include patterns are checked in order, so a
// malformed include pattern drops the entries that no earlier include
// pattern matched.
//
// Tags are compared exactly and case-sensitively: a server with any exclude
// tag is dropped; if there are include tags, it is kept only when it has one
// of them, so a server without tags is dropped.
func Apply(reg *thvregistry.UpstreamRegistry, f *Filter) *thvregistry.UpstreamRegistry {
	if f == nil || reg == nil {
		return reg
	}
	sel := selectEntries(reg, f)
	out := &thvregistry.UpstreamRegistry{
		Schema:  reg.Schema,
		Version: reg.Version,
		Meta:    thvregistry.UpstreamMeta{LastUpdated: reg.Meta.LastUpdated},
		Data: thvregistry.UpstreamData{
			Servers: make([]upstreamv0.ServerJSON, 0, len(sel.servers)),
			Skills:  make([]thvregistry.Skill, 0, len(sel.skills)),
			Plugins: make([]thvregistry.Plugin, 0, len(sel.plugins)),
		},
	}
	for _, i := range sel.servers {
		out.Data.Servers = append(out.Data.Servers, reg.Data.Servers[i])
	}
	for _, i := range sel.skills {
		out.Data.Skills = append(out.Data.Skills, reg.Data.Skills[i])
	}
	for _, i := range sel.plugins {
		out.Data.Plugins = append(out.Data.Plugins, reg.Data.Plugins[i])
	}
	return out
}

// selection is the indexes of the entries a filter keeps, in input order.
type selection struct {
	servers, skills, plugins []int
}

func selectEntries(reg *thvregistry.UpstreamRegistry, f *Filter) selection {
	names := compileNames(f.Names)
	tags := compileTags(f.Tags)
	var sel selection
	for i := range reg.Data.Servers {
		server := &reg.Data.Servers[i]
		if !names.match(server.Name) {
			continue
		}
		if tags.active() && !tags.match(ExtractTags(server)) {
			continue
		}
		sel.servers = append(sel.servers, i)
	}
	for i, skill := range reg.Data.Skills {
		if names.match(skill.Namespace + "/" + skill.Name) {
			sel.skills = append(sel.skills, i)
		}
	}
	for i, plugin := range reg.Data.Plugins {
		if names.match(plugin.Namespace + "/" + plugin.Name) {
			sel.plugins = append(sel.plugins, i)
		}
	}
	return sel
}

// ExtractTags returns the tags of a server: the union, duplicates kept, of
// the string elements of every
// _meta["io.modelcontextprotocol.registry/publisher-provided"][namespace][key]["tags"]
// list (a []any as decoded from JSON, or a []string set in Go). Values that
// are not objects at either level, and tags that are not strings, are
// skipped. Namespaces and keys are visited in sorted order, so
// the result is deterministic.
func ExtractTags(server *upstreamv0.ServerJSON) []string {
	tags := make([]string, 0)
	if server == nil || server.Meta == nil {
		return tags
	}
	for _, ns := range slices.Sorted(maps.Keys(server.Meta.PublisherProvided)) {
		entries, ok := server.Meta.PublisherProvided[ns].(map[string]any)
		if !ok {
			continue
		}
		for _, key := range slices.Sorted(maps.Keys(entries)) {
			entry, ok := entries[key].(map[string]any)
			if !ok {
				continue
			}
			switch list := entry["tags"].(type) {
			case []any:
				for _, tag := range list {
					if s, ok := tag.(string); ok {
						tags = append(tags, s)
					}
				}
			case []string:
				tags = append(tags, list...)
			}
		}
	}
	return tags
}

// FilterHash returns the lowercase hex SHA-256 of the filter's JSON
// encoding; a nil filter hashes the encoding "null". It is recorded as the
// applied filter hash, so a changed filter is noticed.
//
// The hash follows the encoding, not the meaning: a filter whose Names or
// Tags is a present but empty PatternSet hashes differently from one where
// it is nil, though both select the same entries. That costs at most one
// extra sync.
func FilterHash(f *Filter) string {
	raw, _ := json.Marshal(f) // a Filter holds only strings: encoding cannot fail
	return Hash(raw)
}

// Validate reports every malformed name pattern, naming the list, the
// index and the pattern, and saying why it is malformed. [Apply] never
// fails on such a pattern: every entry checked against it is dropped, which
// is rarely what was meant, so configuration checks report these. Tags are
// exact strings and are never malformed. A nil filter is valid.
func (f *Filter) Validate() []error {
	if f == nil || f.Names == nil {
		return nil
	}
	var errs []error
	for _, list := range []struct {
		name     string
		patterns []string
	}{
		{"names.include", f.Names.Include},
		{"names.exclude", f.Names.Exclude},
	} {
		for i, pattern := range list.patterns {
			if _, err := compilePattern(pattern); err != nil {
				errs = append(errs, fmt.Errorf("%s[%d]: invalid glob pattern %q: %w", list.name, i, pattern, err))
			}
		}
	}
	return errs
}

// compilePattern compiles a name glob. filepath.Match vets the pattern
// first, as the reference does, so malformed classes such as "[" are
// rejected even where gobwas/glob would accept them.
func compilePattern(pattern string) (glob.Glob, error) {
	if _, err := filepath.Match(pattern, "test"); err != nil {
		return nil, err
	}
	g, err := glob.Compile(pattern)
	if err != nil {
		return nil, err
	}
	return g, nil
}

// nameMatcher holds the compiled name patterns of a filter; a nil Glob
// stands for a malformed pattern.
type nameMatcher struct {
	include []glob.Glob
	exclude []glob.Glob
}

func compileNames(ps *PatternSet) nameMatcher {
	if ps == nil {
		return nameMatcher{}
	}
	return nameMatcher{include: compileAll(ps.Include), exclude: compileAll(ps.Exclude)}
}

func compileAll(patterns []string) []glob.Glob {
	if len(patterns) == 0 {
		return nil
	}
	out := make([]glob.Glob, len(patterns))
	for i, pattern := range patterns {
		out[i], _ = compilePattern(pattern) // nil when malformed
	}
	return out
}

func (m nameMatcher) match(name string) bool {
	for _, g := range m.exclude {
		if g == nil || g.Match(name) {
			return false
		}
	}
	if len(m.include) == 0 {
		return true
	}
	for _, g := range m.include {
		if g == nil {
			return false
		}
		if g.Match(name) {
			return true
		}
	}
	return false
}

// tagMatcher holds the tag lists of a filter as sets.
type tagMatcher struct {
	include map[string]struct{}
	exclude map[string]struct{}
}

func compileTags(ps *PatternSet) tagMatcher {
	if ps == nil {
		return tagMatcher{}
	}
	return tagMatcher{include: toSet(ps.Include), exclude: toSet(ps.Exclude)}
}

func toSet(list []string) map[string]struct{} {
	if len(list) == 0 {
		return nil
	}
	set := make(map[string]struct{}, len(list))
	for _, s := range list {
		set[s] = struct{}{}
	}
	return set
}

// active reports whether the tag lists can drop anything.
func (m tagMatcher) active() bool {
	return len(m.include) > 0 || len(m.exclude) > 0
}

func (m tagMatcher) match(tags []string) bool {
	for _, tag := range tags {
		if _, ok := m.exclude[tag]; ok {
			return false
		}
	}
	if len(m.include) == 0 {
		return true
	}
	for _, tag := range tags {
		if _, ok := m.include[tag]; ok {
			return true
		}
	}
	return false
}

// Tally is how many entries of each kind a registry holds.
type Tally struct {
	Servers, Skills, Plugins int
}

// TallyOf counts the entries of reg (see [Counts]).
func TallyOf(reg *thvregistry.UpstreamRegistry) Tally {
	var t Tally
	t.Servers, t.Skills, t.Plugins = Counts(reg)
	return t
}

// Empty reports whether there are no entries at all.
func (t Tally) Empty() bool { return t.Servers == 0 && t.Skills == 0 && t.Plugins == 0 }

func (t Tally) String() string {
	return fmt.Sprintf("%d servers, %d skills, %d plugins", t.Servers, t.Skills, t.Plugins)
}

// ErrFilterRemovedEverything means a filter kept none of the entries of a
// source that has some: almost always a mistake in the filter (a glob
// typo), which stored as is would tell every consumer that every entry
// was removed.
var ErrFilterRemovedEverything = errors.New("the filter removed every entry")

// CheckKept returns an error wrapping [ErrFilterRemovedEverything] when a
// filter kept nothing (kept) of a source that has entries (source). A
// source that is empty itself is no mistake of the filter: nil.
func CheckKept(source, kept Tally) error {
	if source.Empty() || !kept.Empty() {
		return nil
	}
	return fmt.Errorf("%w: the source has %s and none passes the filter (check the source's filter.names and filter.tags)",
		ErrFilterRemovedEverything, source)
}
