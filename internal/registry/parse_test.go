package registry

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	thvregistry "github.com/stacklok/toolhive-core/registry/types"
)

func TestParseAcceptsMinimalRegistry(t *testing.T) {
	reg, err := Parse([]byte(minimalRegistry))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if reg.Version != "1.0.0" || reg.Meta.LastUpdated != "2025-01-01T00:00:00Z" || reg.Schema != thvregistry.UpstreamRegistrySchemaURL {
		t.Errorf("header not kept: %+v", reg)
	}
	if len(reg.Data.Servers) != 1 || reg.Data.Servers[0].Name != "io.test/one" {
		t.Errorf("servers = %+v, want io.test/one", reg.Data.Servers)
	}
}

func TestParseSharedRegistry(t *testing.T) {
	raw := readSharedRegistry(t)
	reg, err := Parse(raw)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	servers, skills, plugins := Counts(reg)
	if servers != 12 || skills != 0 || plugins != 0 {
		t.Errorf("Counts = %d, %d, %d; want 12, 0, 0", servers, skills, plugins)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name       string
		raw        string
		want       string // exact message, or prefix when prefix is set
		wantPrefix bool
	}{
		{
			name: "empty input",
			raw:  "",
			want: "data cannot be empty",
		},
		{
			name:       "schema violation",
			raw:        registryDoc("1.0", "2025-01-01T00:00:00Z", `{"servers":[]}`),
			want:       "registry schema validation failed: version: ",
			wantPrefix: true,
		},
		{
			name:       "several schema violations",
			raw:        registryDoc("1.0", "yesterday", `{"servers":[]}`),
			want:       "registry schema validation failed with 2 errors:\n  1. ",
			wantPrefix: true,
		},
		{
			name:       "invalid JSON",
			raw:        `{"version":"1.0.0",}`,
			want:       "registry schema validation failed: invalid JSON at line 1, column 20 (byte offset 19): ",
			wantPrefix: true,
		},
		{
			name:       "invalid publisher-provided extensions",
			raw:        withExtensions(stacklokExtension(`"status":"retired"`)),
			want:       "publisher-provided extensions validation failed: server io.test/one: ",
			wantPrefix: true,
		},
		{
			// encoding/json matches keys regardless of case, so "NAME" lands
			// in the name field the schema never saw.
			name:       "schema-valid data the types cannot hold",
			raw:        withServers(`{"name":"io.test/one","description":"d","version":"1.0.0","NAME":5}`),
			want:       "failed to parse upstream registry format: ",
			wantPrefix: true,
		},
		{
			name: "no servers",
			raw:  withData(`{"servers":[]}`),
			want: "upstream registry must contain at least one server",
		},
		{
			name: "skills without servers",
			raw:  withData(`{"servers":[],"skills":[{"namespace":"io.test","name":"pdf","description":"d","version":"1.0.0"}]}`),
			want: "upstream registry must contain at least one server",
		},
		{
			name: "server without name",
			raw:  withServers(minimalServer, `{"name":"io.test/two","description":"d","version":"1.0.0","Name":""}`),
			want: "server at index 1: name is required",
		},
		{
			name: "server without description",
			raw:  withServers(`{"name":"io.test/one","description":"d","version":"1.0.0","Description":""}`),
			want: "server at index 0 (io.test/one): description is required",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg, err := Parse([]byte(tt.raw))
			if err == nil {
				t.Fatalf("Parse succeeded with %+v, want error %q", reg, tt.want)
			}
			if reg != nil {
				t.Errorf("Parse returned a registry with its error")
			}
			got := err.Error()
			if tt.wantPrefix && !strings.HasPrefix(got, tt.want) || !tt.wantPrefix && got != tt.want {
				t.Errorf("error %q, want %q (prefix %v)", got, tt.want, tt.wantPrefix)
			}
		})
	}
}

func TestHash(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want string
	}{
		{"empty input", "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"bytes as given", "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Hash([]byte(tt.raw)); got != tt.want {
				t.Errorf("Hash(%q) = %s, want %s", tt.raw, got, tt.want)
			}
		})
	}
	t.Run("whitespace changes the hash", func(t *testing.T) {
		if Hash([]byte(minimalRegistry)) == Hash([]byte(minimalRegistry+"\n")) {
			t.Error("raw bytes must not be normalized before hashing")
		}
	})
	t.Run("shared registry has its published digest", func(t *testing.T) {
		raw := readSharedRegistry(t)
		const want = "b83738f6987ef0ae2a7c64bbd92a4bc688734a6d06e70efd8df524bac630d1af"
		if got := Hash(raw); got != want {
			t.Errorf("Hash = %s, want %s", got, want)
		}
	})
}

func TestEncode(t *testing.T) {
	t.Run("round trips through Parse", func(t *testing.T) {
		// Servers keep their $schema: ServerJSON encodes a missing one as "",
		// which is not a URI.
		reg, err := Parse([]byte(withServers(`{"$schema":"https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",` +
			`"name":"io.test/one","description":"d","version":"1.0.0",` +
			`"_meta":{"io.modelcontextprotocol.registry/publisher-provided":` + stacklokExtension(`"status":"active","tags":["sql"]`) + `}}`)))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := Encode(reg)
		if err != nil {
			t.Fatalf("Encode: %v", err)
		}
		again, err := Parse(raw)
		if err != nil {
			t.Fatalf("Parse(Encode(reg)): %v", err)
		}
		raw2, err := Encode(again)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(raw, raw2) {
			t.Errorf("encoding is not stable:\n%s\n%s", raw, raw2)
		}
	})
	t.Run("filtered empty registry encodes empty server list", func(t *testing.T) {
		reg, err := Parse([]byte(minimalRegistry))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := Encode(Apply(reg, &Filter{Names: &PatternSet{Include: []string{"nothing"}}}))
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Data struct {
				Servers json.RawMessage `json:"servers"`
			} `json:"data"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		if string(doc.Data.Servers) != "[]" {
			t.Errorf("servers encode as %s, want []", doc.Data.Servers)
		}
	})
	t.Run("nil registry is an error", func(t *testing.T) {
		if _, err := Encode(nil); err == nil {
			t.Error("Encode(nil) succeeded")
		}
	})
}

func TestCounts(t *testing.T) {
	reg := &thvregistry.UpstreamRegistry{}
	reg.Data.Skills = make([]thvregistry.Skill, 2)
	reg.Data.Plugins = make([]thvregistry.Plugin, 3)
	parsed, err := Parse([]byte(withServers(
		`{"name":"io.test/one","description":"d","version":"1.0.0"}`,
		`{"name":"io.test/one","description":"d","version":"2.0.0"}`,
		`{"name":"io.test/two","description":"d","version":"1.0.0"}`,
	)))
	if err != nil {
		t.Fatal(err)
	}
	reg.Data.Servers = parsed.Data.Servers

	tests := []struct {
		name                    string
		reg                     *thvregistry.UpstreamRegistry
		servers, skills, plugin int
	}{
		{"nil registry counts zero", nil, 0, 0, 0},
		{"servers counted by version", reg, 3, 2, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			servers, skills, plugins := Counts(tt.reg)
			if servers != tt.servers || skills != tt.skills || plugins != tt.plugin {
				t.Errorf("Counts = %d, %d, %d; want %d, %d, %d", servers, skills, plugins, tt.servers, tt.skills, tt.plugin)
			}
		})
	}
}
