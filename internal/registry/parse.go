package registry

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	thvregistry "github.com/stacklok/toolhive-core/registry/types"
)

// Hash returns the lowercase hex SHA-256 of raw bytes as fetched. It is the
// source hash of file and git sources: computed before parsing, never
// normalized, and never including the filter.
func Hash(raw []byte) string {
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// Parse validates raw registry bytes and decodes them, with the steps and
// error messages of the ToolHive Registry Server's data validation:
//
//  1. empty input: "data cannot be empty";
//  2. [Validate]: "registry schema validation failed: ..." or
//     "publisher-provided extensions validation failed: server <name>: ...";
//  3. decoding: "failed to parse upstream registry format: ...";
//  4. no server: "upstream registry must contain at least one server", so a
//     registry of skills or plugins alone is rejected;
//  5. per server: "server at index N: name is required" and
//     "server at index N (<name>): description is required".
func Parse(raw []byte) (*thvregistry.UpstreamRegistry, error) {
	if len(raw) == 0 {
		return nil, errors.New("data cannot be empty")
	}
	if err := Validate(raw); err != nil {
		return nil, err
	}
	var reg thvregistry.UpstreamRegistry
	if err := json.Unmarshal(raw, &reg); err != nil {
		return nil, fmt.Errorf("failed to parse upstream registry format: %w", err)
	}
	if len(reg.Data.Servers) == 0 {
		return nil, errors.New("upstream registry must contain at least one server")
	}
	for i, server := range reg.Data.Servers {
		if server.Name == "" {
			return nil, fmt.Errorf("server at index %d: name is required", i)
		}
		if server.Description == "" {
			return nil, fmt.Errorf("server at index %d (%s): description is required", i, server.Name)
		}
	}
	return &reg, nil
}

// Encode returns the snapshot bytes of a registry: its JSON encoding, as
// stored and served to consumers.
func Encode(reg *thvregistry.UpstreamRegistry) ([]byte, error) {
	if reg == nil {
		return nil, errors.New("encode registry: no registry")
	}
	out, err := json.Marshal(reg)
	if err != nil {
		return nil, fmt.Errorf("encode registry: %w", err)
	}
	return out, nil
}

// Counts returns the number of server, skill and plugin entries of a
// registry. Servers are counted by version, not by distinct name. A nil
// registry counts zero.
func Counts(reg *thvregistry.UpstreamRegistry) (servers, skills, plugins int) {
	if reg == nil {
		return 0, 0, 0
	}
	return len(reg.Data.Servers), len(reg.Data.Skills), len(reg.Data.Plugins)
}
