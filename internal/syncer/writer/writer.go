package writer

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrNoSnapshot means a source has no stored snapshot yet.
var ErrNoSnapshot = errors.New("no snapshot stored")

// Snapshots stores one snapshot per source.
type Snapshots struct {
	obs jetstream.ObjectStore
}

// New returns Snapshots on the given object store.
func New(obs jetstream.ObjectStore) *Snapshots { return &Snapshots{obs: obs} }

// Store replaces a source's snapshot and returns its digest
// ("SHA-256=<base64url>", as the object store reports it).
func (s *Snapshots) Store(ctx context.Context, source string, data []byte) (string, error) {
	info, err := s.obs.PutBytes(ctx, source, data)
	if err != nil {
		return "", fmt.Errorf("store snapshot of %s (%d bytes): %w", source, len(data), err)
	}
	return info.Digest, nil
}

// Load returns a source's snapshot, or ErrNoSnapshot.
func (s *Snapshots) Load(ctx context.Context, source string) ([]byte, error) {
	data, err := s.obs.GetBytes(ctx, source)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, fmt.Errorf("load snapshot of %s: %w", source, ErrNoSnapshot)
	}
	if err != nil {
		return nil, fmt.Errorf("load snapshot of %s: %w", source, err)
	}
	return data, nil
}

// Digest returns the digest of a source's snapshot, or ErrNoSnapshot.
func (s *Snapshots) Digest(ctx context.Context, source string) (string, error) {
	info, err := s.obs.GetInfo(ctx, source)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return "", fmt.Errorf("snapshot of %s: %w", source, ErrNoSnapshot)
	}
	if err != nil {
		return "", fmt.Errorf("snapshot info of %s: %w", source, err)
	}
	if info.Deleted {
		return "", fmt.Errorf("snapshot of %s: %w", source, ErrNoSnapshot)
	}
	return info.Digest, nil
}
