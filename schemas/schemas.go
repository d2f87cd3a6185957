// Package schemas holds the JSON Schemas (draft 2020-12) of regsync's event
// data and configuration, embedded in the binary. Each file's $id is
// BaseURI followed by its file name.
package schemas

import (
	"embed"
	"fmt"
	"io/fs"
)

// BaseURI is the prefix of every schema's $id.
const BaseURI = "https://regsync.io/schemas/"

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
