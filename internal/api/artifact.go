package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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
