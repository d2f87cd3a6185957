package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	thvregistry "github.com/stacklok/toolhive-core/registry/types"
)

// Snapshot returns the filtered registry and the bytes to store for it. The
// bytes are the source's own: every top-level field and every kept entry
// exactly as the source wrote it, only the entries the filter drops are
// left out. So a snapshot carries fields the Go types do not know, and with
// no filter it is the source document itself.
//
// raw must be the document reg was parsed from.
func Snapshot(raw []byte, reg *thvregistry.UpstreamRegistry, f *Filter) (*thvregistry.UpstreamRegistry, []byte, error) {
	if f == nil {
		return reg, raw, nil
	}
	filtered := Apply(reg, f)
	if data, ok := rawSnapshot(raw, reg, selectEntries(reg, f)); ok {
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

// rawSnapshot cuts the selected entries out of the raw document, which is
// valid JSON (Parse checked it), so the kept pieces are joined as they are.
// It reports false when the raw lists do not line up with the parsed ones.
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
		data[l.key] = joinArray(kept)
	}
	doc["data"] = joinObject(data)
	return joinObject(doc), true
}

// joinArray writes valid JSON values as an array, into a buffer of its
// size: a snapshot is as large as its registry, and a growing buffer would
// copy it several times over.
func joinArray(items []json.RawMessage) json.RawMessage {
	size := 2 + len(items)
	for _, item := range items {
		size += len(item)
	}
	var b bytes.Buffer
	b.Grow(size)
	b.WriteByte('[')
	for i, item := range items {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(item)
	}
	b.WriteByte(']')
	return b.Bytes()
}

// joinObject writes valid JSON values as an object, keys sorted, into a
// buffer of its size.
func joinObject(fields map[string]json.RawMessage) json.RawMessage {
	keys := make([][]byte, 0, len(fields))
	size := 2 + len(fields)
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		key, _ := json.Marshal(k)
		keys = append(keys, key)
		size += len(key) + 1 + len(fields[k])
	}
	var b bytes.Buffer
	b.Grow(size)
	b.WriteByte('{')
	for i, k := range slices.Sorted(maps.Keys(fields)) {
		if i > 0 {
			b.WriteByte(',')
		}
		key := keys[i]
		b.Write(key)
		b.WriteByte(':')
		b.Write(fields[k])
	}
	b.WriteByte('}')
	return b.Bytes()
}
