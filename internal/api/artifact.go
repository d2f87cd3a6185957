package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
)

// artifactStatuses are the statuses a skill or a plugin may have; an
// artifact that states none is active.
var artifactStatuses = []string{"active", "deprecated", "archived"}

// artifact is one version of a skill or a plugin, ready to serve.
type artifact struct {
	key      string // namespace/name
	version  string
	status   string
	search   string // lower-case name, title and description
	isLatest bool
	body     []byte // the stored JSON, compacted
	// sum fingerprints the record (View.contentDigest).
	sum [sha256.Size]byte
}

// artifactIndex holds the skills or the plugins of a view.
type artifactIndex struct {
	all    []*artifact            // by namespace/name, then version
	byKey  map[string][]*artifact // each key's versions, in version order
	latest map[string]*artifact
}

func newArtifactIndex(kind string, records []ArtifactRecord) (*artifactIndex, error) {
	idx := &artifactIndex{byKey: map[string][]*artifact{}, latest: map[string]*artifact{}}
	var errs []error
	for i := range records {
		r := &records[i]
		a, err := newArtifact(r)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %d (%s/%s %s): %w", kind, i, r.Namespace, r.Name, r.Version, err))
			continue
		}
		a.sum = recordSum(kind, r.Namespace, r.Name, r.Version, r.Digest, strconv.FormatBool(r.IsLatest))
		idx.all = append(idx.all, a)
	}
	slices.SortFunc(idx.all, func(a, b *artifact) int { return compareKey(a.key, a.version, b.key, b.version) })
	for i, a := range idx.all {
		if i > 0 && idx.all[i-1].key == a.key && idx.all[i-1].version == a.version {
			errs = append(errs, fmt.Errorf("%s %s %s: stored twice", kind, a.key, a.version))
			continue
		}
		idx.byKey[a.key] = append(idx.byKey[a.key], a)
		if a.isLatest {
			if prev, ok := idx.latest[a.key]; ok {
				errs = append(errs, fmt.Errorf("%s %s: versions %s and %s are both marked latest", kind, a.key, prev.version, a.version))
				continue
			}
			idx.latest[a.key] = a
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return idx, nil
}

// patch is the index of the records of idx with those of the keys
// (namespace/name) listed replaced by records, which holds every record of
// those keys and no other.
func (idx *artifactIndex) patch(kind string, keys []string, records []ArtifactRecord) (*artifactIndex, error) {
	if len(keys) == 0 && len(records) == 0 {
		return idx, nil
	}
	fresh, err := newArtifactIndex(kind, records)
	if err != nil {
		return nil, err
	}
	changed := make(map[string]bool, len(keys))
	for _, k := range keys {
		changed[k] = true
	}
	var errs []error
	for _, a := range fresh.all {
		if !changed[a.key] {
			errs = append(errs, fmt.Errorf("%s %s %s: its key is not one the patch lists", kind, a.key, a.version))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	out := &artifactIndex{all: make([]*artifact, 0, len(idx.all)+len(fresh.all)),
		byKey: maps.Clone(idx.byKey), latest: maps.Clone(idx.latest)}
	for k := range changed {
		delete(out.byKey, k)
		delete(out.latest, k)
	}
	maps.Copy(out.byKey, fresh.byKey)
	maps.Copy(out.latest, fresh.latest)
	// Both are in key then version order: merged, so is the index.
	kept, added := idx.all, fresh.all
	for len(kept) > 0 || len(added) > 0 {
		switch {
		case len(kept) > 0 && changed[kept[0].key]:
			kept = kept[1:]
		case len(added) == 0 || len(kept) > 0 && compareKey(kept[0].key, kept[0].version, added[0].key, added[0].version) < 0:
			out.all, kept = append(out.all, kept[0]), kept[1:]
		default:
			out.all, added = append(out.all, added[0]), added[1:]
		}
	}
	return out, nil
}

func newArtifact(r *ArtifactRecord) (*artifact, error) {
	if r.Namespace == "" {
		return nil, errors.New("no namespace")
	}
	id, err := readIdentity(r.JSON, r.Namespace, r.Name, r.Version, r.Digest)
	if err != nil {
		return nil, err
	}
	status := id.Status
	if status == "" {
		status = "active"
	}
	if !slices.Contains(artifactStatuses, status) {
		return nil, fmt.Errorf("status %q is none of %v", id.Status, artifactStatuses)
	}
	var body bytes.Buffer
	if err := json.Compact(&body, r.JSON); err != nil {
		return nil, fmt.Errorf("stored JSON: %w", err)
	}
	return &artifact{
		key:      r.Namespace + "/" + r.Name,
		version:  r.Version,
		status:   status,
		search:   searchText(id),
		isLatest: r.IsLatest,
		body:     body.Bytes(),
	}, nil
}
