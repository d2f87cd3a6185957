package sources

import (
	"context"
	"fmt"
	"net/http"

	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/redact"
	"github.com/regsync/regsync/internal/registry"
)

// cachedFile is the last 200 answer for a file.url: its validators, body
// and digest. An unchanged server answers the next conditional GET with
// 304, and the body is taken from here without downloading it again.
type cachedFile struct {
	etag         string
	lastModified string
	body         []byte
	hash         string
}

// fetchURL returns a file.url source's bytes, from the cache when the
// server answers 304.
func (f *Fetcher) fetchURL(ctx context.Context, src config.Source, limit int64) (*Fetched, error) {
	c, _, err := f.getURL(ctx, src, limit)
	if err != nil {
		return nil, err
	}
	return &Fetched{Raw: c.body, Hash: c.hash, Revision: c.hash}, nil
}

// getURL sends a conditional GET for a file.url source and returns the
// current document and whether it differs from the cached one (true when
// nothing was cached).
func (f *Fetcher) getURL(ctx context.Context, src config.Source, limit int64) (*cachedFile, bool, error) {
	fc := src.File
	if fc.InsecureSkipVerify {
		f.warnInsecure(src.Name, fc.URL)
	}
	f.mu.Lock()
	prev := f.files[fc.URL]
	f.mu.Unlock()
	header := http.Header{}
	if prev != nil {
		if prev.etag != "" {
			header.Set("If-None-Match", prev.etag)
		}
		if prev.lastModified != "" {
			header.Set("If-Modified-Since", prev.lastModified)
		}
	}
	o := httpOptions{timeout: fc.TimeoutDuration(), tokenFile: fc.BearerTokenFile, insecure: fc.InsecureSkipVerify}
	reply, err := f.get(ctx, fc.URL, o, header, limit, prev != nil)
	if err != nil {
		return nil, false, fmt.Errorf("failed to fetch URL %s: %w", redact.URL(fc.URL), err)
	}
	if reply.status == http.StatusNotModified {
		if int64(len(prev.body)) > limit {
			return nil, false, fmt.Errorf("failed to fetch URL %s: %w", redact.URL(fc.URL), tooLargeResponse(int64(len(prev.body)), limit))
		}
		return prev, false, nil
	}
	c := &cachedFile{etag: reply.etag, lastModified: reply.lastModified, body: reply.body, hash: registry.Hash(reply.body)}
	f.mu.Lock()
	if f.files == nil {
		f.files = map[string]*cachedFile{}
	}
	f.files[fc.URL] = c
	f.mu.Unlock()
	return c, prev == nil || prev.hash != c.hash, nil
}
