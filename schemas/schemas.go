// Package schemas holds the JSON Schemas (draft 2020-12) of regsync's event
// data and configuration, embedded in the binary.
//
// Each schema's $id is a URN: BaseURI followed by its file name without
// ".json", such as urn:regsync:schema:sync-completed.v1 for
// sync-completed.v1.json. The dataschema attribute of every regsync event
// is the $id of its data's schema; LookupID resolves it to the schema
// here, and the same files are in the schemas/ directory of the source
// repository (see its README.md).
package schemas

import (
	"embed"
	"fmt"
	"io/fs"
	"strings"
)

// BaseURI is the prefix of every schema's $id.
const BaseURI = "urn:regsync:schema:"

// ID returns the $id of the schema in file name, such as
// "sync-completed.v1.json" (or "sync-completed.v1").
func ID(name string) string {
	return BaseURI + strings.TrimSuffix(name, ".json")
}

//go:embed *.json
var files embed.FS

// FS returns the schema files, by file name (for example
// "sync-completed.v1.json").
func FS() fs.FS {
	return files
}

// Lookup returns the schema file named name, such as
// "sync-completed.v1.json".
func Lookup(name string) ([]byte, error) {
	b, err := files.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("schema %s: %w", name, err)
	}
	return b, nil
}

// LookupID returns the schema whose $id is id, such as
// "urn:regsync:schema:sync-completed.v1" (an event's dataschema).
func LookupID(id string) ([]byte, error) {
	name, ok := strings.CutPrefix(id, BaseURI)
	if !ok || name == "" || strings.ContainsAny(name, "/\\") {
		return nil, fmt.Errorf("schema %s: not a regsync schema id (want %s<name>)", id, BaseURI)
	}
	b, err := files.ReadFile(name + ".json")
	if err != nil {
		return nil, fmt.Errorf("schema %s: no such regsync schema", id)
	}
	return b, nil
}
