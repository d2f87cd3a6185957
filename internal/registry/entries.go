package registry

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Lists are the entries of a snapshot, each one's bytes as the snapshot
// holds them. Build returns them with the snapshot (Built.Entries);
// SnapshotLists cuts them out of a stored one.
type Lists struct {
	Servers, Skills, Plugins [][]byte
}

// SnapshotLists cuts a snapshot (see [Snapshot]) into its entries without
// decoding them, so a sync can fingerprint each entry on its own.
func SnapshotLists(data []byte) (Lists, error) {
	var out Lists
	if !json.Valid(data) {
		return out, errors.New("list snapshot entries: not valid JSON")
	}
	top, ok := objectMembers(data, span{0, len(data)})
	if !ok {
		return out, errors.New("list snapshot entries: not a JSON object")
	}
	for _, m := range top {
		if m.key != "data" {
			continue
		}
		members, ok := objectMembers(data, m.val)
		if !ok {
			return out, errors.New("list snapshot entries: data is not an object")
		}
		for _, dm := range members {
			var dst *[][]byte
			switch dm.key {
			case "servers":
				dst = &out.Servers
			case "skills":
				dst = &out.Skills
			case "plugins":
				dst = &out.Plugins
			default:
				continue
			}
			if data[dm.val.start] == 'n' { // null: no entries
				*dst = nil
				continue
			}
			elems, ok := arrayElements(data, dm.val)
			if !ok {
				return out, fmt.Errorf("list snapshot entries: data.%s is not an array", dm.key)
			}
			list := make([][]byte, len(elems))
			for i, sp := range elems {
				list[i] = data[sp.start:sp.end]
			}
			*dst = list
		}
	}
	return out, nil
}
