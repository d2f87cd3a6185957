package registry

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
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
	return CompareIndex(IndexOf(prev), IndexOf(next))
}

// CompareIndex is Compare on the indexes of two registries, so a sync can
// diff against the index kept with the last snapshot instead of decoding
// the snapshot.
func CompareIndex(before, after Index) Diff {
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

// Index fingerprints the servers of a registry: for each name, the digest
// of the sorted digests of its entries' JSON encodings (one entry's digest
// when it has one version). It is compact (a name and 32 bytes per server
// name) and encodes as a JSON object of unpadded base64url digests.
type Index map[string]digest

// IndexOf indexes a registry; a nil registry has an empty index. Each
// server is encoded once.
func IndexOf(reg *thvregistry.UpstreamRegistry) Index {
	if reg == nil {
		return Index{}
	}
	entries := make(map[string][]digest, len(reg.Data.Servers))
	for i := range reg.Data.Servers {
		server := &reg.Data.Servers[i]
		entries[server.Name] = append(entries[server.Name], serverDigest(server))
	}
	return indexOf(entries)
}

// indexOf combines the entry digests of each name.
func indexOf(entries map[string][]digest) Index {
	out := make(Index, len(entries))
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

// MarshalJSON encodes the index as {"name": "<base64url digest>", ...}.
func (ix Index) MarshalJSON() ([]byte, error) {
	m := make(map[string]string, len(ix))
	for name, d := range ix {
		m[name] = base64.RawURLEncoding.EncodeToString(d[:])
	}
	return json.Marshal(m)
}

// UnmarshalJSON decodes what MarshalJSON writes, refusing digests of the
// wrong size.
func (ix *Index) UnmarshalJSON(raw []byte) error {
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("decode digest index: %w", err)
	}
	out := make(Index, len(m))
	for name, s := range m {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(b) != sha256.Size {
			return fmt.Errorf("decode digest index: server %q: %q is not a base64url SHA-256 digest", name, s)
		}
		out[name] = digest(b)
	}
	*ix = out
	return nil
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
