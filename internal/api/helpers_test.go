package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/regsync/regsync/internal/registry"
	"github.com/regsync/regsync/internal/testsupport"
)

// t0 is the time of the first sync in every test.
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// digestOf is a record's digest as storage computes it: the SHA-256 of
// its bytes.
func digestOf(raw []byte) string {
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// server returns the record of one server version, live, published and
// updated at t0, with an icon and a field the MCP types do not know, so
// tests see that stored bytes are served as they are.
func server(name, version string, latest bool, fields ...string) ServerRecord {
	raw := fmt.Sprintf(`{"$schema":"https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",`+
		`"name":%q,"description":"Serves %s","version":%q,`+
		`"icons":[{"src":"https://example.com/icon.png","mimeType":"image/png"}],"x-unknown":{"kept":true}%s}`,
		name, name, version, strings.Join(append([]string{""}, fields...), ","))
	return ServerRecord{
		Name: name, Version: version, JSON: []byte(raw), Digest: digestOf([]byte(raw)),
		PublishedAt: t0, UpdatedAt: t0, IsLatest: latest,
	}
}

// at returns r published at p and updated at u.
func at(r ServerRecord, p, u time.Time) ServerRecord {
	r.PublishedAt, r.UpdatedAt = p, u
	return r
}

// deleted returns r as a tombstone removed at when, holding what storage
// keeps of a removed version (registry.Tombstone), so every answer with
// tombstones checks that body against the official schema.
func deleted(r ServerRecord, when time.Time) ServerRecord {
	body, err := registry.Tombstone(r.JSON)
	if err != nil {
		panic(err)
	}
	r.JSON, r.Digest = body, digestOf(body)
	r.Deleted, r.UpdatedAt = true, when
	return r
}

func artifactRecord(namespace, name, version string, latest bool, fields ...string) ArtifactRecord {
	raw := fmt.Sprintf(`{"namespace":%q,"name":%q,"description":"The %s skill","version":%q%s}`,
		namespace, name, name, version, strings.Join(append([]string{""}, fields...), ","))
	return ArtifactRecord{Namespace: namespace, Name: name, Version: version, JSON: []byte(raw), Digest: digestOf([]byte(raw)), IsLatest: latest}
}

// mustBuild builds a view or fails the test.
func mustBuild(tb testing.TB, c Content) *View {
	tb.Helper()
	v, err := Build(c)
	if err != nil {
		tb.Fatalf("Build: %v", err)
	}
	return v
}

// serveRegistry serves content as registry "default" through httptest
// and returns the handler and the registry's base URL.
func serveRegistry(tb testing.TB, c Content) (*Handler, string) {
	tb.Helper()
	h := NewHandler([]string{"default"}, testsupport.Logger(tb))
	if err := h.Swap("default", mustBuild(tb, c)); err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return h, srv.URL + "/registry/default"
}

// fetch sends a GET (or method, when given in headers as "Method") and
// returns the answer with its whole body.
func fetch(tb testing.TB, url string, headers ...string) (*http.Response, []byte) {
	tb.Helper()
	method := http.MethodGet
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "Method" {
			req.Method = headers[i+1]
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", req.Method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("read %s: %v", url, err)
	}
	return resp, body
}

// list is a decoded ServerList.
type list struct {
	Servers []struct {
		Server json.RawMessage `json:"server"`
		Meta   struct {
			Official struct {
				Status      string    `json:"status"`
				PublishedAt time.Time `json:"publishedAt"`
				UpdatedAt   time.Time `json:"updatedAt"`
				IsLatest    bool      `json:"isLatest"`
			} `json:"io.modelcontextprotocol.registry/official"`
		} `json:"_meta"`
	} `json:"servers"`
	Metadata struct {
		NextCursor string `json:"nextCursor"`
		Count      int    `json:"count"`
	} `json:"metadata"`
}

// keys are the entries of a list as "name version", in order.
func (l list) keys() []string {
	out := []string{}
	for _, s := range l.Servers {
		var id identity
		_ = json.Unmarshal(s.Server, &id)
		out = append(out, id.Name+" "+id.Version)
	}
	return out
}

// officialSchemas are ServerList and ServerResponse of the official MCP
// registry's OpenAPI document, in the module regsync pins.
var officialSchemas = sync.OnceValues(func() (map[string]*jsonschema.Schema, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/modelcontextprotocol/registry").Output()
	if err != nil {
		return nil, fmt.Errorf("locate the registry module: %w", err)
	}
	path := filepath.Join(strings.TrimSpace(string(out)), "docs", "reference", "api", "openapi.yaml")
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var tree any
	if err := yaml.Unmarshal(raw, &tree); err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	js, err := json.Marshal(tree)
	if err != nil {
		return nil, fmt.Errorf("convert %s: %w", path, err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	const id = "https://modelcontextprotocol.io/schemas/draft/2025-12-01/server-registry-openapi"
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(id, doc); err != nil {
		return nil, fmt.Errorf("add %s: %w", path, err)
	}
	schemas := map[string]*jsonschema.Schema{}
	for _, name := range []string{"ServerList", "ServerResponse"} {
		s, err := c.Compile(id + "#/components/schemas/" + name)
		if err != nil {
			return nil, fmt.Errorf("compile %s: %w", name, err)
		}
		schemas[name] = s
	}
	return schemas, nil
})

// conforms fails the test unless body is valid against the official
// schema of that name.
func conforms(tb testing.TB, schema string, body []byte) {
	tb.Helper()
	schemas, err := officialSchemas()
	if err != nil {
		tb.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		tb.Fatalf("answer is not JSON: %v\n%s", err, body)
	}
	if err := schemas[schema].Validate(doc); err != nil {
		tb.Fatalf("answer is not a valid %s: %v\n%s", schema, err, body)
	}
}

// getList fetches a listing, checks it is a 200 ServerList of the
// official schema and decodes it.
func getList(tb testing.TB, url string) list {
	tb.Helper()
	resp, body := fetch(tb, url)
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: %s %s", url, resp.Status, body)
	}
	conforms(tb, "ServerList", body)
	var l list
	if err := json.Unmarshal(body, &l); err != nil {
		tb.Fatal(err)
	}
	if l.Metadata.Count != len(l.Servers) {
		tb.Fatalf("GET %s: metadata.count %d for %d servers", url, l.Metadata.Count, len(l.Servers))
	}
	return l
}
