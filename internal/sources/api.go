package sources

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	upstreamv0 "github.com/modelcontextprotocol/registry/pkg/api/v0"
	"github.com/modelcontextprotocol/registry/pkg/model"
	thvregistry "github.com/stacklok/toolhive-core/registry/types"
	"go.yaml.in/yaml/v3"

	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/redact"
)

// Bounds of one api listing, as in the ToolHive Registry Server.
const (
	apiPageSize   = 100
	maxAPIPages   = 1000
	maxAPIServers = 100000
	// maxProbeSize bounds the openapi.yaml read by the format probe.
	maxProbeSize = 4 << 20
)

// fixedLastUpdated stands in for meta.last_updated when no entry carries
// a timestamp, so the document's bytes do not change from fetch to fetch.
const fixedLastUpdated = "1970-01-01T00:00:00Z"

// apiLimits are the listing's caps; tests shrink them.
type apiLimits struct {
	pages   int
	servers int
}

func (f *Fetcher) apiLimits() apiLimits {
	l := apiLimits{pages: maxAPIPages, servers: maxAPIServers}
	if f.maxAPIPages > 0 {
		l.pages = f.maxAPIPages
	}
	return l
}

func apiOptions(a *config.API) httpOptions {
	return httpOptions{timeout: a.TimeoutDuration(), tokenFile: a.BearerTokenFile, insecure: a.InsecureSkipVerify}
}

func apiBase(a *config.API) string { return strings.TrimRight(a.Endpoint, "/") }

// fetchAPI lists every server of an MCP registry API v0.1 and returns them
// as an upstream registry document.
//
// Hash is the ToolHive Registry Server's api hash: the SHA-256 of
// json.Marshal(reg.Data), that is {"servers":[...]} as Go encodes it,
// without meta.last_updated. The same servers in the same order give the
// same hash whatever the time. It equals a file or git source's hash (the
// SHA-256 of the raw file) only when that file's bytes are exactly that
// encoding of the data object alone — never for a whole registry document
// with $schema, version and meta — so moving a source between api and
// file always counts as a change. Revision is the same hash.
//
// Raw is the whole document, json.Marshal(reg), because the worker parses
// and validates it like any other source's bytes. Its meta.last_updated is
// the newest updatedAt (or publishedAt) the registry reported for the
// entries, not the time of the fetch, so unchanged data gives unchanged
// bytes too; Raw is not what Hash is computed over.
func (f *Fetcher) fetchAPI(ctx context.Context, src config.Source, limit int64) (*Fetched, error) {
	a := src.API
	if a.InsecureSkipVerify {
		f.warnInsecure(src.Name, a.Endpoint)
	}
	o := apiOptions(a)
	if err := f.probeAPI(ctx, apiBase(a), o); err != nil {
		return nil, fmt.Errorf("upstream format validation failed: %w", err)
	}
	servers, newest, err := f.listServers(ctx, apiBase(a), o, limit)
	if err != nil {
		return nil, fmt.Errorf("failed to fetch servers: %w", err)
	}
	last := fixedLastUpdated
	if !newest.IsZero() {
		last = newest.UTC().Format(time.RFC3339)
	}
	if servers == nil {
		servers = []upstreamv0.ServerJSON{}
	}
	reg := thvregistry.UpstreamRegistry{
		Schema:  thvregistry.UpstreamRegistrySchemaURL,
		Version: "1.0.0",
		Meta:    thvregistry.UpstreamMeta{LastUpdated: last},
		Data:    thvregistry.UpstreamData{Servers: servers},
	}
	hash, err := apiHash(&reg)
	if err != nil {
		return nil, err
	}
	// The Go type writes a missing $schema as "", which the server schema
	// rejects as a URI. Entries listed by the v0.1 API are in the current
	// server schema, so name it; the hash above keeps the reference's
	// definition over the data as received.
	for i := range reg.Data.Servers {
		if reg.Data.Servers[i].Schema == "" {
			reg.Data.Servers[i].Schema = model.CurrentSchemaURL
		}
	}
	raw, err := json.Marshal(reg)
	if err != nil {
		return nil, fmt.Errorf("encode api registry: %w", err)
	}
	return &Fetched{Raw: raw, Hash: hash, Revision: hash}, nil
}

// apiHash is the lowercase hex SHA-256 of json.Marshal(reg.Data).
func apiHash(reg *thvregistry.UpstreamRegistry) (string, error) {
	data, err := json.Marshal(reg.Data)
	if err != nil {
		return "", fmt.Errorf("failed to marshal registry data: %w", err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

// listServers pages through {base}/v0.1/servers and keeps each entry's
// server. It also returns the newest updatedAt or publishedAt of the
// entries' registry metadata.
func (f *Fetcher) listServers(ctx context.Context, base string, o httpOptions, limit int64) ([]upstreamv0.ServerJSON, time.Time, error) {
	return f.listServersWith(ctx, base, o, limit, f.apiLimits())
}

// listServersWith is listServers with the given caps. limit bounds the
// bytes of all pages together.
func (f *Fetcher) listServersWith(ctx context.Context, base string, o httpOptions, limit int64, caps apiLimits) ([]upstreamv0.ServerJSON, time.Time, error) {
	var (
		servers []upstreamv0.ServerJSON
		newest  time.Time
		cursor  string
		total   int64
	)
	seen := map[string]int{} // cursor → page that returned it
	for page := 1; ; page++ {
		if page > caps.pages {
			return nil, time.Time{}, fmt.Errorf("pagination exceeded maximum pages (%d), possible infinite loop or malicious upstream", caps.pages)
		}
		q := url.Values{}
		q.Set("limit", fmt.Sprint(apiPageSize))
		u := base + "/v0.1/servers?" + q.Encode()
		if cursor != "" {
			u += "&cursor=" + url.QueryEscape(cursor)
		}
		reply, err := f.get(ctx, u, o, nil, limit-total, false)
		if err != nil {
			if se := new(sizeError); errors.As(err, &se) {
				// Name the listing's total against the source's limit.
				err = fmt.Errorf("pages 1 to %d: %w", page, tooLargeResponse(total+se.size, limit))
			}
			return nil, time.Time{}, fmt.Errorf("failed to fetch page %d: %w", page, err)
		}
		total += int64(len(reply.body))
		var resp upstreamv0.ServerListResponse
		if err := json.Unmarshal(reply.body, &resp); err != nil {
			return nil, time.Time{}, fmt.Errorf("failed to parse response page %d: %w", page, err)
		}
		if n := len(servers) + len(resp.Servers); n > caps.servers {
			return nil, time.Time{}, fmt.Errorf("total servers (%d) would exceed maximum (%d), could cause out of service", n, caps.servers)
		}
		for _, e := range resp.Servers {
			servers = append(servers, e.Server)
			if m := e.Meta.Official; m != nil {
				for _, t := range []time.Time{m.UpdatedAt, m.PublishedAt, m.StatusChangedAt} {
					if t.After(newest) {
						newest = t
					}
				}
			}
		}
		next := resp.Metadata.NextCursor
		if next == "" {
			return servers, newest, nil
		}
		if p, ok := seen[next]; ok {
			return nil, time.Time{}, fmt.Errorf("page %d returned cursor %q again (first returned by page %d): the upstream pages in a loop", page, next, p)
		}
		seen[next] = page
		cursor = next
	}
}

// probeAPI checks that base serves the MCP registry API: its openapi.yaml
// must have info.version "1.0.0" (a string) and an info.description naming
// the MCP registry's repository. Unlike the ToolHive Registry Server, each
// failure says what is wrong.
func (f *Fetcher) probeAPI(ctx context.Context, base string, o httpOptions) error {
	u := base + "/openapi.yaml"
	reply, err := f.get(ctx, u, o, nil, maxProbeSize, false)
	if err != nil {
		return fmt.Errorf("failed to fetch /openapi.yaml: %w", err)
	}
	return checkOpenAPI(reply.body)
}

// checkOpenAPI checks the probe's openapi.yaml.
func checkOpenAPI(body []byte) error {
	var doc map[string]any
	if err := yaml.Unmarshal(body, &doc); err != nil {
		return fmt.Errorf("failed to parse /openapi.yaml: %w", err)
	}
	info, ok := doc["info"].(map[string]any)
	if !ok {
		return errors.New("/openapi.yaml: missing 'info' section")
	}
	version, ok := info["version"].(string)
	if !ok {
		if v, present := info["version"]; present {
			return fmt.Errorf("/openapi.yaml: missing 'version' field: info.version is %v (%T), not the string \"1.0.0\"", v, v)
		}
		return errors.New("/openapi.yaml: missing 'version' field")
	}
	if version != "1.0.0" {
		return fmt.Errorf("/openapi.yaml: version is %s, expected 1.0.0", version)
	}
	desc, ok := info["description"].(string)
	if !ok {
		return errors.New("/openapi.yaml: missing 'description' field")
	}
	const repo = "https://github.com/modelcontextprotocol/registry"
	if !strings.Contains(desc, repo) {
		return fmt.Errorf("/openapi.yaml: description does not contain expected GitHub URL %s", repo)
	}
	return nil
}

// apiChanged is the narrow check of an api source: one page of at most
// one server updated since the previous check. The first check of a
// source reports a change with no revision. The time of a check is the
// server's Date header when it sends one, so clock skew between regsync
// and the registry cannot hide an update.
func (f *Fetcher) apiChanged(ctx context.Context, src config.Source) (bool, error) {
	a := src.API
	if a.InsecureSkipVerify {
		f.warnInsecure(src.Name, a.Endpoint)
	}
	key := src.Name + "\x00" + a.Endpoint
	f.mu.Lock()
	since, checked := f.apiChecks[key]
	f.mu.Unlock()
	start := time.Now()
	q := url.Values{}
	q.Set("limit", "1")
	if checked {
		q.Set("updated_since", since.UTC().Format(time.RFC3339Nano))
	}
	u := apiBase(a) + "/v0.1/servers?" + q.Encode()
	reply, err := f.get(ctx, u, apiOptions(a), nil, maxProbeSize, false)
	if err != nil {
		return false, fmt.Errorf("check api %s: %w", redact.URL(a.Endpoint), err)
	}
	var resp upstreamv0.ServerListResponse
	if err := json.Unmarshal(reply.body, &resp); err != nil {
		return false, fmt.Errorf("check api %s: failed to parse response: %w", redact.URL(a.Endpoint), err)
	}
	now := reply.date
	if now.IsZero() {
		now = start
	} else {
		// Date has a one-second resolution: step back so an update in
		// the same second is not missed.
		now = now.Add(-time.Second)
	}
	f.mu.Lock()
	if f.apiChecks == nil {
		f.apiChecks = map[string]time.Time{}
	}
	f.apiChecks[key] = now
	f.mu.Unlock()
	return !checked || len(resp.Servers) > 0, nil
}
