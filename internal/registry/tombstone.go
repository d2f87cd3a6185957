package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Tombstone limits: a removed entry keeps its identity in full and at
// most these many characters of its title and description (the official
// ServerDetail's maxLength), and its $schema only when it is at most
// tombstoneSchemaBytes long, so a tombstone is small whatever the entry.
const (
	tombstoneTextRunes   = 100
	tombstoneSchemaBytes = 256
)

// Tombstone is the body a removed entry (a server, skill or plugin
// version) is kept as: its "$schema", "namespace", "name", "title",
// "description" and "version", the fields a deleted answer needs (the
// official registry answers a deleted version as a ServerResponse whose
// server has at least name, description and version), in that order,
// compact. Fields that are absent or not strings are left out.
func Tombstone(raw []byte) ([]byte, error) {
	var in struct {
		Schema      any `json:"$schema"`
		Namespace   any `json:"namespace"`
		Name        any `json:"name"`
		Title       any `json:"title"`
		Description any `json:"description"`
		Version     any `json:"version"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, fmt.Errorf("tombstone of an entry: %w", err)
	}
	var out struct {
		Schema      string `json:"$schema,omitempty"`
		Namespace   string `json:"namespace,omitempty"`
		Name        string `json:"name"`
		Title       string `json:"title,omitempty"`
		Description string `json:"description,omitempty"`
		Version     string `json:"version"`
	}
	out.Namespace, _ = in.Namespace.(string)
	out.Name, _ = in.Name.(string)
	out.Version, _ = in.Version.(string)
	if s, _ := in.Schema.(string); len(s) <= tombstoneSchemaBytes {
		out.Schema = s
	}
	title, _ := in.Title.(string)
	out.Title = truncate(title, tombstoneTextRunes)
	description, _ := in.Description.(string)
	out.Description = truncate(description, tombstoneTextRunes)
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return nil, fmt.Errorf("tombstone of an entry: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'}), nil
}

// truncate returns s cut to at most n characters.
func truncate(s string, n int) string {
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos]
		}
		i++
	}
	return s
}
