package api

import (
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Limits of a skill or plugin listing, as the reference serves them.
const (
	defaultArtifactLimit = 50
	maxArtifactLimit     = 100
)

// artifactKind is one of the reference's dev.toolhive extensions: skills
// or plugins, served by the same routes over their own index.
type artifactKind struct {
	singular, plural string
	index            func(v *View) *artifactIndex
}

var (
	skills  = artifactKind{"skill", "skills", func(v *View) *artifactIndex { return v.skills }}
	plugins = artifactKind{"plugin", "plugins", func(v *View) *artifactIndex { return v.plugins }}
)

// list answers GET …/x/dev.toolhive/<kind>: every version, by
// namespace/name then version, with search, status, limit and cursor.
func (k artifactKind) list(v *View, r *http.Request) (answer, *requestError) {
	q := r.URL.Query()
	var after *position
	if c := q.Get("cursor"); c != "" {
		pos, rerr := decodeCursor(c)
		if rerr != nil {
			return answer{}, rerr
		}
		after = &pos
	}
	limit, rerr := parseLimit(q, defaultArtifactLimit, maxArtifactLimit, false)
	if rerr != nil {
		return answer{}, rerr
	}
	statuses, rerr := statusList(q.Get("status"))
	if rerr != nil {
		return answer{}, rerr
	}
	search := strings.ToLower(strings.TrimSpace(q.Get("search")))
	afterKey := ""
	if after != nil {
		afterKey = after.key + "\x00" + after.version
	}
	key := keyOf(k.plural, afterKey, strconv.Itoa(limit), search, strings.Join(statuses, ","))
	return answer{key: key, body: func(dst []byte) []byte {
		all := k.index(v).all
		start := 0
		if after != nil {
			start = sort.Search(len(all), func(i int) bool {
				return compareKey(all[i].key, all[i].version, after.key, after.version) > 0
			})
		}
		var items []item
		var last *artifact
		next := ""
		for _, a := range all[start:] {
			if search != "" && !strings.Contains(a.search, search) ||
				len(statuses) > 0 && !slices.Contains(statuses, a.status) {
				continue
			}
			if len(items) == limit {
				next = encodeCursor(position{last.key, last.version})
				break
			}
			items = append(items, item{a.body})
			last = a
		}
		return listBody(dst, k.plural, items, next, false)
	}}, nil
}

// versions answers GET …/<kind>/{namespace}/{name}/versions.
func (k artifactKind) versions(v *View, r *http.Request) (answer, *requestError) {
	key := r.PathValue("namespace") + "/" + r.PathValue("name")
	vs := k.index(v).byKey[key]
	if len(vs) == 0 {
		return answer{}, notFound("%s %q not found", k.singular, key)
	}
	return answer{key: keyOf(k.plural+"/versions", key), body: func(dst []byte) []byte {
		items := make([]item, len(vs))
		for i, a := range vs {
			items[i] = item{a.body}
		}
		return listBody(dst, k.plural, items, "", false)
	}}, nil
}

// latest answers GET …/<kind>/{namespace}/{name}.
func (k artifactKind) latest(v *View, r *http.Request) (answer, *requestError) {
	return k.find(v, r.PathValue("namespace")+"/"+r.PathValue("name"), "latest")
}

// version answers GET …/<kind>/{namespace}/{name}/versions/{version},
// where version may be "latest".
func (k artifactKind) version(v *View, r *http.Request) (answer, *requestError) {
	return k.find(v, r.PathValue("namespace")+"/"+r.PathValue("name"), r.PathValue("version"))
}

func (k artifactKind) find(v *View, key, version string) (answer, *requestError) {
	idx := k.index(v)
	vs := idx.byKey[key]
	if len(vs) == 0 {
		return answer{}, notFound("%s %q not found", k.singular, key)
	}
	a := idx.latest[key]
	if version != "latest" {
		i := slices.IndexFunc(vs, func(a *artifact) bool { return a.version == version })
		if i < 0 {
			a = nil
		} else {
			a = vs[i]
		}
	}
	if a == nil {
		return answer{}, notFound("%s %q has no version %q", k.singular, key, version)
	}
	return answer{key: keyOf(k.singular, key, a.version), body: func(dst []byte) []byte { return append(dst, a.body...) }}, nil
}
