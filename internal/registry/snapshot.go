package registry

import (
	"encoding/json"
	"fmt"

	thvregistry "github.com/stacklok/toolhive-core/registry/types"
)

// Snapshot returns the filtered registry and the bytes to store for it. The
// bytes are the source's own: every top-level field and every kept entry
// exactly as the source wrote it (compacted), only the entries the filter
// drops are left out. So a snapshot carries fields the Go types do not
// know, and with no filter it holds the same data as the source.
//
// raw must be the document reg was parsed from.
func Snapshot(raw []byte, reg *thvregistry.UpstreamRegistry, f *Filter) (*thvregistry.UpstreamRegistry, []byte, error) {
	filtered := Apply(reg, f)
	all := selection{
		servers: indexes(len(reg.Data.Servers)),
		skills:  indexes(len(reg.Data.Skills)),
		plugins: indexes(len(reg.Data.Plugins)),
	}
	sel := all
	if f != nil {
		sel = selectEntries(reg, f)
	}
	data, ok := rawSnapshot(raw, reg, sel)
	if ok {
		return filtered, data, nil
	}
	// The document spells its keys in a way only the case-insensitive
	// decoder accepts: store the typed encoding instead.
	data, err := Encode(filtered)
	if err != nil {
		return nil, nil, fmt.Errorf("snapshot: %w", err)
	}
	return filtered, data, nil
}

func indexes(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// rawSnapshot cuts the selected entries out of the raw document. It
// reports false when the raw lists do not line up with the parsed ones.
func rawSnapshot(raw []byte, reg *thvregistry.UpstreamRegistry, sel selection) ([]byte, bool) {
	var doc map[string]json.RawMessage
	if json.Unmarshal(raw, &doc) != nil {
		return nil, false
	}
	var data map[string]json.RawMessage
	if json.Unmarshal(doc["data"], &data) != nil || data == nil {
		return nil, false
	}
	lists := []struct {
		key  string
		n    int
		keep []int
	}{
		{"servers", len(reg.Data.Servers), sel.servers},
		{"skills", len(reg.Data.Skills), sel.skills},
		{"plugins", len(reg.Data.Plugins), sel.plugins},
	}
	for _, l := range lists {
		rawList, present := data[l.key]
		if !present {
			if l.n != 0 || l.key == "servers" {
				return nil, false
			}
			continue
		}
		var entries []json.RawMessage
		if json.Unmarshal(rawList, &entries) != nil || len(entries) != l.n {
			return nil, false
		}
		kept := make([]json.RawMessage, 0, len(l.keep))
		for _, i := range l.keep {
			kept = append(kept, entries[i])
		}
		out, err := json.Marshal(kept)
		if err != nil {
			return nil, false
		}
		data[l.key] = out
	}
	var err error
	if doc["data"], err = json.Marshal(data); err != nil {
		return nil, false
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return nil, false
	}
	return out, true
}
