package schemas

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// eventSchemas are the schemas of event data; they follow the rules
// checked in TestEventSchemas.
var eventSchemas = []string{
	"source-changed.v1.json",
	"sync-requested.v1.json",
	"sync-completed.v1.json",
	"sync-failed.v1.json",
	"sync-skipped.v1.json",
	"registry-changed.v1.json",
}

func TestEverySchemaCompiles(t *testing.T) {
	names, err := fs.Glob(FS(), "*.json")
	if err != nil || len(names) == 0 {
		t.Fatalf("no schemas: %v", err)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			b, err := Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("not JSON: %v", err)
			}
			c := jsonschema.NewCompiler()
			c.DefaultDraft(jsonschema.Draft2020)
			if err := c.AddResource(ID(name), doc); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Compile(ID(name)); err != nil {
				t.Fatalf("does not compile: %v", err)
			}
		})
	}
}

func TestEventSchemas(t *testing.T) {
	for _, name := range eventSchemas {
		t.Run(name, func(t *testing.T) {
			b, err := Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			var schema map[string]any
			if err := json.Unmarshal(b, &schema); err != nil {
				t.Fatal(err)
			}
			if got := schema["$schema"]; got != "https://json-schema.org/draft/2020-12/schema" {
				t.Errorf("$schema = %v, want draft 2020-12", got)
			}
			if got := schema["$id"]; got != ID(name) {
				t.Errorf("$id = %v, want %s", got, ID(name))
			}
			checkObject(t, name, schema)
		})
	}
}

// checkObject requires a description on every property, at any depth, and
// lets every object have properties it does not list: readers are
// tolerant, so a .v1 type can gain optional fields.
func checkObject(t *testing.T, path string, schema map[string]any) {
	t.Helper()
	props, ok := schema["properties"].(map[string]any)
	if !ok {
		return
	}
	if ap, set := schema["additionalProperties"]; set && ap != true {
		t.Errorf("%s: additionalProperties is %v, want it absent (allowed)", path, ap)
	}
	for name, p := range props {
		prop := p.(map[string]any)
		if d, _ := prop["description"].(string); strings.TrimSpace(d) == "" {
			t.Errorf("%s.%s: no description", path, name)
		}
		checkObject(t, path+"."+name, prop)
	}
}

func TestLookupID(t *testing.T) {
	t.Run("the $id of every schema", func(t *testing.T) {
		names, err := fs.Glob(FS(), "*.json")
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			b, err := LookupID(ID(name))
			if err != nil {
				t.Fatalf("LookupID(%s) = %v", ID(name), err)
			}
			var schema struct {
				ID string `json:"$id"`
			}
			if err := json.Unmarshal(b, &schema); err != nil || schema.ID != ID(name) {
				t.Errorf("LookupID(%s) returned the schema with $id %q (%v)", ID(name), schema.ID, err)
			}
		}
	})
	for _, id := range []string{"https://regsync.io/schemas/sync-completed.v1.json", "urn:regsync:schema:", "urn:regsync:schema:../config.schema", "urn:regsync:schema:sync-started.v1"} {
		t.Run("rejects "+id, func(t *testing.T) {
			if _, err := LookupID(id); err == nil || !strings.Contains(err.Error(), id) {
				t.Fatalf("LookupID(%q) = %v, want an error naming it", id, err)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	t.Run("known schema", func(t *testing.T) {
		b, err := Lookup("sync-completed.v1.json")
		if err != nil || !json.Valid(b) {
			t.Fatalf("Lookup() = %d bytes, %v", len(b), err)
		}
	})
	t.Run("unknown schema", func(t *testing.T) {
		if _, err := Lookup("sync-started.v1.json"); err == nil || !strings.Contains(err.Error(), "sync-started.v1.json") {
			t.Fatalf("Lookup() = %v, want an error naming the file", err)
		}
	})
}
