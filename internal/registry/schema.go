package registry

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemaFS holds toolhive-core's registry schemas; schema/README.md says
// which version they were copied from.
//
//go:embed schema/*.schema.json
var schemaFS embed.FS

// Schema ids, as declared by the "$id" of each embedded file.
const (
	upstreamRegistrySchemaID = "https://raw.githubusercontent.com/stacklok/toolhive-core/main/registry/types/data/upstream-registry.schema.json"
	publisherSchemaID        = "https://raw.githubusercontent.com/stacklok/toolhive-core/main/registry/types/data/publisher-provided.schema.json"
	serverSchemaID           = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"
)

// checkRules is the version of the checks written in Go beside the
// schemas (the publisher-provided extensions walk, the name and
// description rules): change it whenever they accept less.
const checkRules = "1"

// Checks names the checks this build of regsync applies to an entry: the
// embedded schemas' bytes and checkRules, as a SHA-256. A source's commit
// marker carries the Checks of the sync that wrote it, and a later sync
// trusts the entries it recorded (Builder.BuildAccepting) only under the
// same Checks, so a regsync whose checks accept less checks every entry
// again once.
var Checks = sync.OnceValue(func() string {
	h := sha256.New()
	fmt.Fprintf(h, "rules %s\n", checkRules)
	files, _ := fs.Glob(schemaFS, "schema/*.schema.json")
	for _, name := range files {
		raw, _ := schemaFS.ReadFile(name)
		fmt.Fprintf(h, "%s %d\n", name, len(raw))
		h.Write(raw)
	}
	return hex.EncodeToString(h.Sum(nil))
})

// schemas are the compiled validators, built once on first use.
type schemas struct {
	registry  *jsonschema.Schema
	publisher *jsonschema.Schema
	server    *jsonschema.Schema // one entry of data.servers, for Build
}

var compiledSchemas = sync.OnceValues(compileSchemas)

// compileSchemas registers every embedded schema under its "$id", so
// references between them resolve without any fetch, and compiles the entry
// points: the upstream registry, the publisher-provided extensions and one
// server entry.
func compileSchemas() (*schemas, error) {
	c := jsonschema.NewCompiler()
	c.UseLoader(refuseLoader{})
	c.AssertFormat()
	registerCompatFormats(c)

	files, err := fs.Glob(schemaFS, "schema/*.schema.json")
	if err != nil {
		return nil, fmt.Errorf("list embedded schemas: %w", err)
	}
	for _, name := range files {
		raw, err := schemaFS.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read embedded schema %s: %w", name, err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("decode embedded schema %s: %w", name, err)
		}
		obj, ok := doc.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("embedded schema %s is not a JSON object", name)
		}
		id, ok := obj["$id"].(string)
		if !ok || id == "" {
			return nil, fmt.Errorf("embedded schema %s has no $id", name)
		}
		if err := c.AddResource(id, doc); err != nil {
			return nil, fmt.Errorf("register embedded schema %s: %w", name, err)
		}
	}

	reg, err := c.Compile(upstreamRegistrySchemaID)
	if err != nil {
		return nil, fmt.Errorf("compile upstream registry schema: %w", err)
	}
	pub, err := c.Compile(publisherSchemaID)
	if err != nil {
		return nil, fmt.Errorf("compile publisher-provided schema: %w", err)
	}
	server, err := c.Compile(serverSchemaID)
	if err != nil {
		return nil, fmt.Errorf("compile server schema: %w", err)
	}
	return &schemas{registry: reg, publisher: pub, server: server}, nil
}

// refuseLoader is the compiler's loader: every schema is embedded, so a
// reference to anything else is an error, never a network or file read.
type refuseLoader struct{}

func (refuseLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("schema %s is not embedded; refusing to load it", url)
}
