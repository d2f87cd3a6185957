package writer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/bus"
)

// ErrNoSnapshot means a source has no stored snapshot yet.
var ErrNoSnapshot = errors.New("no snapshot stored")

// ErrNoIndex means the digest index kept with a source's snapshot is
// missing, or belongs to another snapshot than the one stored.
var ErrNoIndex = errors.New("no digest index for the stored snapshot")

// Snapshots stores one snapshot per source.
type Snapshots struct {
	obs jetstream.ObjectStore
}

// New returns Snapshots on the given object store.
func New(obs jetstream.ObjectStore) *Snapshots { return &Snapshots{obs: obs} }

// Snapshot is what a sync stores for a source.
type Snapshot struct {
	// Data is the filtered registry JSON, the object <source>.
	Data []byte
	// Index is the digest index of Data's servers, the object
	// <source>.index: the next sync diffs against it instead of decoding
	// Data. Source names never hold a dot, so the names cannot clash.
	Index []byte
	Meta  Meta
}

// Meta is what a snapshot says about itself, in its object's metadata,
// so a consumer can check what it downloaded without reading the status:
// `nats object info regsync_data <source>`. The keys are the status
// record's field names.
type Meta struct {
	Revision     string
	LastSyncHash string
	FilterHash   string
	ServerCount  int
	SkillCount   int
	PluginCount  int
}

// Info describes a stored snapshot as its object's description says: the
// digest ("SHA-256=<base64url>"), the NUID that names its chunks, its size
// and metadata. The writer computes the digest and publishes it with the
// description; the server does not check it, so whoever may write the
// bucket can replace the chunks and republish the description with the old
// digest. Only reading the content (Load) checks it against the digest.
type Info struct {
	Digest string
	NUID   string
	Size   uint64
	Meta   Meta
}

// Metadata keys of the snapshot object (the contract's, in events).
const (
	metaRevision    = events.MetaRevision
	metaHash        = events.MetaLastSyncHash
	metaFilterHash  = events.MetaFilterHash
	metaServerCount = events.MetaServerCount
	metaSkillCount  = events.MetaSkillCount
	metaPluginCount = events.MetaPluginCount
	// metaSnapshotDigest, on the index object, names the snapshot indexed.
	metaSnapshotDigest = events.MetaSnapshotDigest
)

func (m Meta) metadata() map[string]string {
	return map[string]string{
		metaRevision:    m.Revision,
		metaHash:        m.LastSyncHash,
		metaFilterHash:  m.FilterHash,
		metaServerCount: strconv.Itoa(m.ServerCount),
		metaSkillCount:  strconv.Itoa(m.SkillCount),
		metaPluginCount: strconv.Itoa(m.PluginCount),
	}
}

func metaOf(md map[string]string) Meta {
	count := func(key string) int {
		n, _ := strconv.Atoi(md[key])
		return n
	}
	return Meta{
		Revision:     md[metaRevision],
		LastSyncHash: md[metaHash],
		FilterHash:   md[metaFilterHash],
		ServerCount:  count(metaServerCount),
		SkillCount:   count(metaSkillCount),
		PluginCount:  count(metaPluginCount),
	}
}

func indexName(source string) string { return source + ".index" }

// Store replaces a source's snapshot and its index and returns the
// snapshot's description. The index names the snapshot it indexes by its
// digest, computed here as the object store computes it, so the two are
// written at the same time: an index whose snapshot was not stored, or a
// snapshot whose index was not, leaves an index that names another
// digest than the stored snapshot's and is then ignored (see Index), so
// the two never disagree unnoticed.
func (s *Snapshots) Store(ctx context.Context, source string, snap Snapshot) (Info, error) {
	h := sha256.New()
	h.Write(snap.Data)
	digest := jetstream.GetObjectDigestValue(h)
	var indexErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		_, indexErr = s.obs.Put(ctx, jetstream.ObjectMeta{
			Name:        indexName(source),
			Description: "regsync digest index of the snapshot of source " + source,
			Metadata:    map[string]string{metaSnapshotDigest: digest},
			Opts:        chunking(snap.Index),
		}, bytes.NewReader(snap.Index))
	})
	info, err := s.obs.Put(ctx, jetstream.ObjectMeta{
		Name:        source,
		Description: "regsync snapshot of source " + source,
		Metadata:    snap.Meta.metadata(),
		Opts:        chunking(snap.Data),
	}, bytes.NewReader(snap.Data))
	wg.Wait()
	if err != nil {
		return Info{}, fmt.Errorf("store snapshot of %s (%d bytes): %w", source, len(snap.Data), err)
	}
	if indexErr != nil {
		return Info{}, fmt.Errorf("store digest index of %s (%d bytes): %w", source, len(snap.Index), indexErr)
	}
	if info.Digest != digest {
		return Info{}, fmt.Errorf("store digest index of %s: it names snapshot %q, the store computed %q", source, digest, info.Digest)
	}
	return infoOf(info), nil
}

// chunking sizes the chunks of an object: bus.ObjectChunkSize, or the
// object's own size when it is smaller. Put allocates one chunk, so a
// registry of a few KiB is not stored through a buffer of a whole chunk
// (twice per sync, with its index).
func chunking(data []byte) *jetstream.ObjectMetaOptions {
	return &jetstream.ObjectMetaOptions{ChunkSize: uint32(min(max(len(data), 1), bus.ObjectChunkSize))}
}

// Load returns a source's snapshot, or ErrNoSnapshot. The content read is
// checked against the digest its description gives
// (jetstream.ErrDigestMismatch).
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

// Index returns the digest index kept with a source's snapshot:
// ErrNoSnapshot without a snapshot, ErrNoIndex when the index is missing
// or was written for another snapshot. digest is the stored snapshot's,
// when the caller read its description already; "" reads it.
func (s *Snapshots) Index(ctx context.Context, source, digest string) ([]byte, error) {
	if digest == "" {
		snap, err := s.Info(ctx, source)
		if err != nil {
			return nil, err
		}
		digest = snap.Digest
	}
	res, err := s.obs.Get(ctx, indexName(source))
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, fmt.Errorf("load digest index of %s: %w", source, ErrNoIndex)
	}
	if err != nil {
		return nil, fmt.Errorf("load digest index of %s: %w", source, err)
	}
	defer res.Close()
	info, err := res.Info()
	if err != nil {
		return nil, fmt.Errorf("load digest index of %s: %w", source, err)
	}
	if info.Metadata[metaSnapshotDigest] != digest {
		return nil, fmt.Errorf("load digest index of %s: it indexes snapshot %q, not %q: %w",
			source, info.Metadata[metaSnapshotDigest], digest, ErrNoIndex)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(res); err != nil {
		return nil, fmt.Errorf("load digest index of %s: %w", source, err)
	}
	return buf.Bytes(), nil
}

// Info returns the digest and metadata of a source's snapshot, or
// ErrNoSnapshot. It reads the object's description only, never its
// content.
func (s *Snapshots) Info(ctx context.Context, source string) (Info, error) {
	info, err := s.obs.GetInfo(ctx, source)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return Info{}, fmt.Errorf("snapshot of %s: %w", source, ErrNoSnapshot)
	}
	if err != nil {
		return Info{}, fmt.Errorf("snapshot info of %s: %w", source, err)
	}
	if info.Deleted {
		return Info{}, fmt.Errorf("snapshot of %s: %w", source, ErrNoSnapshot)
	}
	return infoOf(info), nil
}

func infoOf(info *jetstream.ObjectInfo) Info {
	return Info{Digest: info.Digest, NUID: info.NUID, Size: info.Size, Meta: metaOf(info.Metadata)}
}
