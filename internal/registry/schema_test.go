package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	thvregistry "github.com/stacklok/toolhive-core/registry/types"
)

const toolhiveCoreModule = "github.com/stacklok/toolhive-core"

func TestEmbeddedSchemasMatchToolhiveCore(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH; cannot locate the toolhive-core module to compare schemas")
	}
	out, err := exec.Command(goTool, "list", "-m", "-f", "{{.Version}} {{.Dir}}", toolhiveCoreModule).Output()
	if err != nil {
		t.Skipf("go list -m %s: %v; cannot compare schemas", toolhiveCoreModule, err)
	}
	version, dir, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	if version == "" {
		t.Fatalf("go list -m %s printed no version: %q", toolhiveCoreModule, out)
	}

	readme, err := os.ReadFile("schema/README.md")
	if err != nil {
		t.Fatalf("read schema/README.md: %v", err)
	}
	if !strings.Contains(string(readme), "toolhive-core "+version) {
		t.Errorf("schema/README.md does not name toolhive-core %s, the version in go.mod", version)
	}
	if dir == "" {
		t.Skipf("toolhive-core %s is not in the module cache; cannot compare schemas", version)
	}
	dataDir := filepath.Join(dir, "registry", "types", "data")
	upstream, err := filepath.Glob(filepath.Join(dataDir, "*.schema.json"))
	if err != nil || len(upstream) == 0 {
		t.Fatalf("no schemas in %s (err %v)", dataDir, err)
	}
	embedded, err := fs.Glob(schemaFS, "schema/*.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var upstreamNames, embeddedNames []string
	for _, p := range upstream {
		upstreamNames = append(upstreamNames, filepath.Base(p))
	}
	for _, p := range embedded {
		embeddedNames = append(embeddedNames, filepath.Base(p))
	}
	if !slices.Equal(upstreamNames, embeddedNames) {
		t.Fatalf("embedded schemas %v, toolhive-core %s has %v", embeddedNames, version, upstreamNames)
	}
	for _, name := range upstreamNames {
		want, err := os.ReadFile(filepath.Join(dataDir, name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := schemaFS.ReadFile("schema/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("schema/%s differs from toolhive-core %s's copy; copy it again", name, version)
		}
	}
}

// Every format the schemas use must be checked as gojsonschema checks it;
// the compiler's own checkers differ.
func TestSchemaFormatsHaveCompatibleCheckers(t *testing.T) {
	embedded, err := fs.Glob(schemaFS, "schema/*.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range embedded {
		raw, err := schemaFS.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, format := range schemaFormats(doc, nil) {
			if _, ok := compatFormats[format]; !ok {
				t.Errorf("%s uses format %q, which has no gojsonschema-compatible checker", name, format)
			}
		}
	}
}

// schemaFormats lists the values of "format" keywords in a schema document
// (skipping "properties" names, which are not keywords).
func schemaFormats(v any, out []string) []string {
	switch v := v.(type) {
	case map[string]any:
		for key, child := range v {
			if key == "format" {
				if s, ok := child.(string); ok {
					out = append(out, s)
					continue
				}
			}
			if key == "properties" {
				if props, ok := child.(map[string]any); ok {
					for _, prop := range props {
						out = schemaFormats(prop, out)
					}
					continue
				}
			}
			out = schemaFormats(child, out)
		}
	case []any:
		for _, child := range v {
			out = schemaFormats(child, out)
		}
	}
	return out
}

func TestCompatFormats(t *testing.T) {
	tests := []struct {
		format string
		value  string
		want   bool
	}{
		{"date-time", "2025-01-01T00:00:00Z", true},
		{"date-time", "2025-01-01T00:00:00.123+02:00", true},
		{"date-time", "2025-01-01", true},
		{"date-time", "10:30:00", true},
		{"date-time", "2025-01-01 00:00:00", false},
		{"date-time", "yesterday", false},
		{"uri", "https://example.com/x", true},
		{"uri", "mailto:someone@example.com", true},
		{"uri", "example.com/x", false},
		{"uri", `https://example.com\x`, false},
		{"uri", "http://exa mple.com", false},
		{"uuid", "123e4567-e89b-12d3-a456-426614174000", true},
		{"uuid", "123E4567-E89B-12D3-A456-426614174000", false},
		{"hostname", "tuf-repo-cdn.sigstore.dev", true},
		{"hostname", "under_score.dev", false},
		{"hostname", "example.com.", false},
	}
	for _, tt := range tests {
		t.Run(tt.format+" "+tt.value, func(t *testing.T) {
			if got := compatFormats[tt.format](tt.value); got != tt.want {
				t.Errorf("%s(%q) = %v, want %v", tt.format, tt.value, got, tt.want)
			}
		})
	}
}

// agreementCases are inputs on which our validator and toolhive-core's must
// agree; valid is what both must say.
var agreementCases = []struct {
	name  string
	doc   string
	valid bool
}{
	{"minimal registry", minimalRegistry, true},
	{"no servers", withData(`{"servers":[]}`), true},
	{"missing version", `{"meta":{"last_updated":"2025-01-01T00:00:00Z"},"data":{"servers":[]}}`, false},
	{"missing meta", `{"version":"1.0.0","data":{"servers":[]}}`, false},
	{"missing data", `{"version":"1.0.0","meta":{"last_updated":"2025-01-01T00:00:00Z"}}`, false},
	{"missing servers", withData(`{}`), false},
	{"servers not an array", withData(`{"servers":{}}`), false},
	{"document not an object", `[]`, false},
	{"version with two parts", registryDoc("1.0", "2025-01-01T00:00:00Z", `{"servers":[]}`), false},
	{"version with suffix", registryDoc("1.0.0-rc1", "2025-01-01T00:00:00Z", `{"servers":[]}`), false},
	{"last_updated not a date-time", registryDoc("1.0.0", "yesterday", `{"servers":[]}`), false},
	{"last_updated a bare date", registryDoc("1.0.0", "2025-01-01", `{"servers":[]}`), true},
	{"last_updated with offset", registryDoc("1.0.0", "2025-01-01T00:00:00+02:00", `{"servers":[]}`), true},
	{"$schema not a URI", `{"$schema":"not a uri","version":"1.0.0","meta":{"last_updated":"2025-01-01T00:00:00Z"},"data":{"servers":[]}}`, false},
	{"server name without slash", withServers(`{"name":"no-slash","description":"d","version":"1.0.0"}`), false},
	{"server name too short", withServers(`{"name":"a/","description":"d","version":"1.0.0"}`), false},
	{"server name with space", withServers(`{"name":"io.test/o ne","description":"d","version":"1.0.0"}`), false},
	{"server missing description", withServers(`{"name":"io.test/one","version":"1.0.0"}`), false},
	{"server empty description", withServers(`{"name":"io.test/one","description":"","version":"1.0.0"}`), false},
	{"description of 100 characters", withServers(`{"name":"io.test/one","description":"` + strings.Repeat("d", 100) + `","version":"1.0.0"}`), true},
	{"description of 101 characters", withServers(`{"name":"io.test/one","description":"` + strings.Repeat("d", 101) + `","version":"1.0.0"}`), false},
	{"description of 100 runes in more bytes", withServers(`{"name":"io.test/one","description":"` + strings.Repeat("é", 100) + `","version":"1.0.0"}`), true},
	{"server missing version", withServers(`{"name":"io.test/one","description":"d"}`), false},
	{"server websiteUrl relative", withServers(`{"name":"io.test/one","description":"d","version":"1.0.0","websiteUrl":"example.com"}`), false},
	{"package with transport", withServers(`{"name":"io.test/one","description":"d","version":"1.0.0","packages":[{"registryType":"oci","identifier":"ghcr.io/test/one:1.0.0","transport":{"type":"stdio"}}]}`), true},
	{"package missing transport", withServers(`{"name":"io.test/one","description":"d","version":"1.0.0","packages":[{"registryType":"oci","identifier":"ghcr.io/test/one:1.0.0"}]}`), false},
	{"package unknown transport type", withServers(`{"name":"io.test/one","description":"d","version":"1.0.0","packages":[{"registryType":"oci","identifier":"ghcr.io/test/one:1.0.0","transport":{"type":"carrier-pigeon"}}]}`), false},
	{"remote with URL", withServers(`{"name":"io.test/one","description":"d","version":"1.0.0","remotes":[{"type":"streamable-http","url":"https://example.com/mcp"}]}`), true},
	{"remote missing URL", withServers(`{"name":"io.test/one","description":"d","version":"1.0.0","remotes":[{"type":"streamable-http"}]}`), false},
	{"skill complete", withData(`{"servers":[` + minimalServer + `],"skills":[{"namespace":"io.test","name":"pdf","description":"d","version":"1.0.0"}]}`), true},
	{"skill missing fields", withData(`{"servers":[` + minimalServer + `],"skills":[{"name":"pdf"}]}`), false},
	{"plugin complete", withData(`{"servers":[` + minimalServer + `],"plugins":[{"namespace":"io.test","name":"lint","description":"d","version":"1.0.0"}]}`), true},
	{"plugin missing fields", withData(`{"servers":[` + minimalServer + `],"plugins":[{"namespace":"io.test"}]}`), false},
	{"publisher-provided valid", withExtensions(stacklokExtension(`"status":"Active","tier":"Official","tags":["database","sql"],"tools":["run_query"]`)), true},
	{"publisher-provided status invalid", withExtensions(stacklokExtension(`"status":"retired"`)), false},
	{"publisher-provided status missing", withExtensions(stacklokExtension(`"tier":"Official"`)), false},
	{"publisher-provided tag with uppercase", withExtensions(stacklokExtension(`"status":"active","tags":["Database"]`)), false},
	{"publisher-provided tag of one character", withExtensions(stacklokExtension(`"status":"active","tags":["a"]`)), false},
	{"publisher-provided duplicate tags", withExtensions(stacklokExtension(`"status":"active","tags":["sql","sql"]`)), false},
	{"publisher-provided tool with dot", withExtensions(stacklokExtension(`"status":"active","tools":["run.query"]`)), false},
	{"publisher-provided proxy_port out of range", withExtensions(stacklokExtension(`"status":"active","proxy_port":70000`)), false},
	{"publisher-provided proxy_port as 80.0", withExtensions(stacklokExtension(`"status":"active","proxy_port":80.0`)), true},
	{"publisher-provided proxy_port integer after float64 rounding", withExtensions(stacklokExtension(`"status":"active","proxy_port":80.00000000000000001`)), true},
	{"publisher-provided proxy_port fraction", withExtensions(stacklokExtension(`"status":"active","proxy_port":80.5`)), false},
	{"server $schema empty", withServers(`{"$schema":"","name":"io.test/one","description":"d","version":"1.0.0"}`), false},
	{"publisher-provided uid uppercase UUID", withExtensions(stacklokExtension(`"status":"active","metadata":{"kubernetes":{"uid":"123E4567-E89B-12D3-A456-426614174000"}}`)), false},
	{"publisher-provided uid lowercase UUID", withExtensions(stacklokExtension(`"status":"active","metadata":{"kubernetes":{"uid":"123e4567-e89b-12d3-a456-426614174000"}}`)), true},
	{"publisher-provided metadata date", withExtensions(stacklokExtension(`"status":"active","metadata":{"last_updated":"2025-11-15"}`)), true},
	{"publisher-provided sigstore_url with underscore", withExtensions(stacklokExtension(`"status":"active","provenance":{"sigstore_url":"tuf_repo.dev"}`)), false},
	{"publisher-provided allow_host domain suffix", withExtensions(stacklokExtension(`"status":"active","permissions":{"network":{"outbound":{"allow_host":[".example.com","api.example.com"]}}}`)), true},
	{"publisher-provided allow_host wildcard", withExtensions(stacklokExtension(`"status":"active","permissions":{"network":{"outbound":{"allow_host":["*.example.com"]}}}`)), false},
	{"publisher-provided other namespace anything", withExtensions(`{"com.example":{"anything":[1,2,3]}}`), true},
	{"publisher-provided other namespace not an object", withExtensions(`{"com.example":"text"}`), false},
	{"publisher-provided not an object", withServers(`{"name":"io.test/one","description":"d","version":"1.0.0","_meta":{"io.modelcontextprotocol.registry/publisher-provided":"text"}}`), false},
	{"number beyond float64 in extensions", withExtensions(`{"com.example":{"big":1e400}}`), false},
	{"not JSON", `{"version": tru}`, false},
	{"trailing data after the document", minimalRegistry + ` {}`, false},
	{"truncated document", minimalRegistry[:len(minimalRegistry)-3], false},
}

func TestValidateAgreesWithToolhiveCore(t *testing.T) {
	cases := agreementCases
	if raw, err := os.ReadFile(sharedRegistryPath); err == nil {
		cases = append(cases, struct {
			name  string
			doc   string
			valid bool
		}{"shared example registry", string(raw), true})
	} else {
		t.Logf("shared test data %s is not present; the real-file case is skipped", sharedRegistryPath)
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			ours := Validate([]byte(tt.doc))
			theirs := thvregistry.ValidateUpstreamRegistryBytes([]byte(tt.doc))
			if (ours == nil) != tt.valid {
				t.Errorf("Validate: got %v, want valid=%v", ours, tt.valid)
			}
			if (theirs == nil) != tt.valid {
				t.Errorf("toolhive-core: got %v, want valid=%v", theirs, tt.valid)
			}
		})
	}
}

func TestValidateErrorWording(t *testing.T) {
	tests := []struct {
		name       string
		doc        string
		wantPrefix string
		wantParts  []string
	}{
		{
			name:       "one schema error is on one line",
			doc:        `{"meta":{"last_updated":"2025-01-01T00:00:00Z"},"data":{"servers":[]}}`,
			wantPrefix: "registry schema validation failed: (root): ",
			wantParts:  []string{"version"},
		},
		{
			name:       "several schema errors are numbered",
			doc:        registryDoc("1.0", "yesterday", `{"servers":[]}`),
			wantPrefix: "registry schema validation failed with 2 errors:\n  1. ",
			wantParts:  []string{"\n  2. ", "meta.last_updated: ", "version: "},
		},
		{
			name:       "nested fields are dotted paths",
			doc:        withServers(`{"name":"io.test/one","version":"1.0.0"}`),
			wantPrefix: "registry schema validation failed: data.servers.0: ",
			wantParts:  []string{"description"},
		},
		{
			name:       "extension errors name the server",
			doc:        withExtensions(stacklokExtension(`"status":"retired"`)),
			wantPrefix: "publisher-provided extensions validation failed: server io.test/one: publisher-provided extensions schema validation failed: ",
			wantParts:  []string{"status"},
		},
		{
			name:       "invalid JSON says where",
			doc:        "{\n  \"version\": tru\n}",
			wantPrefix: "registry schema validation failed: invalid JSON at line 2, column 17 (byte offset 18): ",
			wantParts:  []string{"invalid character '\\n' in literal true"},
		},
		{
			name:       "truncated JSON says where it ends",
			doc:        `{"version":`,
			wantPrefix: "registry schema validation failed: invalid JSON at line 1, column 12 (byte offset 11): unexpected end of JSON input",
		},
		{
			name:       "trailing data says where it starts",
			doc:        "{}\n[]",
			wantPrefix: "registry schema validation failed: invalid JSON at line 2, column 1 (byte offset 3): invalid character '[' after top-level value",
		},
		{
			name:       "whitespace only is no JSON value",
			doc:        " \n ",
			wantPrefix: "registry schema validation failed: invalid JSON: no JSON value in the input",
		},
		{
			name:       "numbers beyond float64 fail as in the reference",
			doc:        withExtensions(`{"com.example":{"big":1e400}}`),
			wantPrefix: "failed to parse registry JSON: ",
			wantParts:  []string{"1e400"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate([]byte(tt.doc))
			if err == nil {
				t.Fatal("Validate succeeded, want an error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tt.wantPrefix) {
				t.Errorf("error %q\ndoes not start with %q", msg, tt.wantPrefix)
			}
			for _, part := range tt.wantParts {
				if !strings.Contains(msg, part) {
					t.Errorf("error %q\ndoes not contain %q", msg, part)
				}
			}
		})
	}
}

// The extension error wording up to the library's own message is
// toolhive-core's.
func TestValidateExtensionErrorMatchesToolhiveCore(t *testing.T) {
	doc := []byte(withServers(
		`{"name":"io.test/one","description":"d","version":"1.0.0","_meta":{"io.modelcontextprotocol.registry/publisher-provided":`+stacklokExtension(`"status":"retired"`)+`}}`,
		`{"name":"io.test/two","description":"d","version":"1.0.0","_meta":{"io.modelcontextprotocol.registry/publisher-provided":`+stacklokExtension(`"status":"active","tags":["X"]`)+`}}`,
	))
	ours, theirs := Validate(doc), thvregistry.ValidateUpstreamRegistryBytes(doc)
	if ours == nil || theirs == nil {
		t.Fatalf("want both to fail, got ours=%v theirs=%v", ours, theirs)
	}
	for _, prefix := range []string{
		"publisher-provided extensions validation failed with 2 errors:\n" +
			"  1. server io.test/one: publisher-provided extensions schema validation failed: ",
		"\n  2. server io.test/two: publisher-provided extensions schema validation failed: ",
	} {
		if !strings.Contains(ours.Error(), prefix) {
			t.Errorf("ours %q\nlacks %q", ours, prefix)
		}
		if !strings.Contains(theirs.Error(), prefix) {
			t.Errorf("toolhive-core %q\nlacks %q", theirs, prefix)
		}
	}
}

// largeRegistry repeats the servers of the shared example registry, each
// copy renamed, until the document is about 2.1 MB, like a real catalog.
func largeRegistry(tb testing.TB) []byte {
	tb.Helper()
	raw := readSharedRegistry(tb)
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		tb.Fatal(err)
	}
	data := doc["data"].(map[string]any)
	servers := data["servers"].([]any)
	const target = 2_100_000
	copies := (target + len(raw) - 1) / len(raw)
	all := make([]any, 0, copies*len(servers))
	for c := range copies {
		for _, s := range servers {
			server := make(map[string]any)
			for k, v := range s.(map[string]any) {
				server[k] = v
			}
			if c > 0 {
				server["name"] = fmt.Sprintf("%s-copy%d", server["name"], c)
			}
			all = append(all, server)
		}
	}
	data["servers"] = all
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func BenchmarkValidate(b *testing.B) {
	raw := largeRegistry(b)
	if err := Validate(raw); err != nil {
		b.Fatalf("benchmark registry is invalid: %v", err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := Validate(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidateToolhiveCore(b *testing.B) {
	raw := largeRegistry(b)
	if err := thvregistry.ValidateUpstreamRegistryBytes(raw); err != nil {
		b.Fatalf("benchmark registry is invalid: %v", err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := thvregistry.ValidateUpstreamRegistryBytes(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func TestValidateConcurrently(t *testing.T) {
	docs := []string{minimalRegistry, withExtensions(stacklokExtension(`"status":"retired"`)), `{"version": tru}`}
	done := make(chan error)
	for i := range 8 {
		go func() {
			doc := docs[i%len(docs)]
			err := Validate([]byte(doc))
			if (err == nil) != (doc == minimalRegistry) {
				done <- fmt.Errorf("Validate(%.40q) = %v", doc, err)
				return
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
