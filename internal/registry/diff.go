package registry

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"slices"

	upstreamv0 "github.com/modelcontextprotocol/registry/pkg/api/v0"
	thvregistry "github.com/stacklok/toolhive-core/registry/types"
)

// Diff lists the server names whose entries changed between two registries,
// each list sorted. The lists are never nil, so they encode as [] when
// empty.
type Diff struct {
	Added   []string `json:"added"`
	Updated []string `json:"updated"`
	Removed []string `json:"removed"`
}

// Compare reports which server names were added, updated or removed
// between the registries prev and next. All versions of one name are taken
// together: a name is updated when the JSON encoding of its entries
// differs, whatever their order in the file. A nil prev means every name of
// next is added; a nil next means every name of prev is removed. Skills and
// plugins are not compared.
func Compare(prev, next *thvregistry.UpstreamRegistry) Diff {
	before := serverDigests(prev)
	after := serverDigests(next)
	d := Diff{Added: []string{}, Updated: []string{}, Removed: []string{}}
	for name, digest := range after {
		prev, ok := before[name]
		switch {
		case !ok:
			d.Added = append(d.Added, name)
		case prev != digest:
			d.Updated = append(d.Updated, name)
		}
	}
	for name := range before {
		if _, ok := after[name]; !ok {
			d.Removed = append(d.Removed, name)
		}
	}
	slices.Sort(d.Added)
	slices.Sort(d.Updated)
	slices.Sort(d.Removed)
	return d
}

type digest [sha256.Size]byte

// serverDigests fingerprints the entries of each server name: the digest of
// the sorted digests of its entries' JSON encodings. Each server is encoded
// once.
func serverDigests(reg *thvregistry.UpstreamRegistry) map[string]digest {
	if reg == nil {
		return map[string]digest{}
	}
	entries := make(map[string][]digest, len(reg.Data.Servers))
	for i := range reg.Data.Servers {
		server := &reg.Data.Servers[i]
		entries[server.Name] = append(entries[server.Name], serverDigest(server))
	}
	out := make(map[string]digest, len(entries))
	for name, list := range entries {
		if len(list) == 1 {
			out[name] = list[0]
			continue
		}
		slices.SortFunc(list, func(a, b digest) int { return bytes.Compare(a[:], b[:]) })
		h := sha256.New()
		for _, d := range list {
			h.Write(d[:])
		}
		out[name] = digest(h.Sum(nil))
	}
	return out
}

// serverDigest fingerprints one server entry. Struct fields encode in a
// fixed order and map keys sorted, so equal entries encode alike. An entry
// that cannot be encoded (not possible for parsed data) is fingerprinted by
// its name and the encoding error.
func serverDigest(server *upstreamv0.ServerJSON) digest {
	raw, err := json.Marshal(server)
	if err != nil {
		return sha256.Sum256([]byte("unencodable entry " + server.Name + ": " + err.Error()))
	}
	return sha256.Sum256(raw)
}
