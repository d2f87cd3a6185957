package api

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestBuildNamesEveryBadRecord gives Build records that cannot be served
// and expects one error naming each of them.
func TestBuildNamesEveryBadRecord(t *testing.T) {
	good := server("io.test/good", "1.0.0", true)
	mismatch := server("io.test/other", "1.0.0", true)
	mismatch.Name = "io.test/claimed"
	noDigest := server("io.test/nodigest", "1.0.0", true)
	noDigest.Digest = ""
	broken := server("io.test/broken", "1.0.0", true)
	broken.JSON = []byte(`{"name":`)
	twoLatest := server("io.test/good", "2.0.0", true)
	badSkill := artifactRecord("io.test", "s", "1.0.0", true, `"status":"retired"`)

	_, err := Build(Content{
		Servers: []ServerRecord{good, good, mismatch, noDigest, broken, twoLatest},
		Skills:  []ArtifactRecord{badSkill},
	})
	if err == nil {
		t.Fatal("Build accepted bad records")
	}
	for _, want := range []string{
		"server io.test/good 1.0.0: stored twice",
		`stored JSON is "io.test/other 1.0.0", not the record's "io.test/claimed 1.0.0"`,
		"(io.test/nodigest 1.0.0): no digest",
		"(io.test/broken 1.0.0): stored JSON: unexpected end of JSON input",
		`skill 0 (io.test/s 1.0.0): status "retired" is none of [active deprecated archived]`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}

	if _, err := Build(Content{Servers: []ServerRecord{good, twoLatest}}); err == nil ||
		!strings.Contains(err.Error(), "server io.test/good: versions 1.0.0 and 2.0.0 are both marked latest") {
		t.Errorf("two latest versions: %v", err)
	}
}

// TestServerFieldsNamedLikeArtifactFieldsAreKept serves a server entry
// that carries a field of its own called "namespace": it is an unknown
// field of a server, kept like any other.
func TestServerFieldsNamedLikeArtifactFieldsAreKept(t *testing.T) {
	r := server("io.test/ns", "1.0.0", true, `"namespace":"io.test"`)
	if _, err := Build(Content{Servers: []ServerRecord{r}}); err != nil {
		t.Fatalf("Build: %v", err)
	}
}

// TestOpenAPIDocument checks what MCP registry api sources require of the
// document and that it lists every route the handler serves.
func TestOpenAPIDocument(t *testing.T) {
	var doc struct {
		Info struct {
			Version     any    `yaml:"version"`
			Description string `yaml:"description"`
		} `yaml:"info"`
		Paths map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Info.Version != "1.0.0" || !strings.Contains(doc.Info.Description, "https://github.com/modelcontextprotocol/registry") {
		t.Fatalf("info.version %v, description %q", doc.Info.Version, doc.Info.Description)
	}
	// Every route but the document itself, and no other path.
	var served []string
	for _, p := range Routes() {
		if p != "/openapi.yaml" && p != OtherRoute {
			served = append(served, p)
		}
	}
	for _, p := range served {
		if _, ok := doc.Paths[p]; !ok {
			t.Errorf("the document does not describe %s", p)
		}
	}
	if len(doc.Paths) != len(served) {
		t.Errorf("the document describes %d paths, the handler serves %d", len(doc.Paths), len(served))
	}
}

// TestOfficialSchemaRefusesABadList makes sure the conformance check can
// fail: a list whose entry has no name is not a ServerList.
func TestOfficialSchemaRefusesABadList(t *testing.T) {
	schemas, err := officialSchemas()
	if err != nil {
		t.Fatal(err)
	}
	var doc any = map[string]any{"servers": []any{map[string]any{"server": map[string]any{"version": "1", "description": "d"}}}}
	if err := schemas["ServerList"].Validate(doc); err == nil {
		t.Fatal("a server without a name passed as a ServerList")
	}
}
