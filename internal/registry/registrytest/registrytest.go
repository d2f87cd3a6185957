// Package registrytest builds registries of any size for tests and
// benchmarks, so that figures for large registries need no large files in
// the repository.
package registrytest

import (
	"encoding/json"
	"fmt"

	thvregistry "github.com/stacklok/toolhive-core/registry/types"
)

// Large returns an indented upstream registry of n servers, each shaped
// like an entry of the ToolHive catalog (an OCI package with environment
// variables and publisher-provided metadata), about 3.5 KB apiece: 10,000
// servers make about 35 MB. edit changes the description of every server
// whose index is a multiple of 100, so two registries of one size but
// different edits differ in one server out of a hundred.
func Large(n, edit int) []byte {
	servers := make([]any, n)
	for i := range servers {
		servers[i] = server(i, edit)
	}
	doc := map[string]any{
		"$schema": thvregistry.UpstreamRegistrySchemaURL,
		"version": "1.0.0",
		"meta":    map[string]any{"last_updated": "2026-01-01T00:00:00Z"},
		"data":    map[string]any{"servers": servers},
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic(fmt.Sprintf("registrytest: %v", err))
	}
	return out
}

func server(i, edit int) map[string]any {
	name := fmt.Sprintf("io.github.example/server-%06d", i)
	image := fmt.Sprintf("ghcr.io/example/dockyard/server-%06d:1.%d.0", i, i%7)
	description := fmt.Sprintf("Server %d of a large test registry: reads, searches and updates records", i)
	if i%100 == 0 {
		description += fmt.Sprintf(" (edit %d)", edit)
	}
	env := make([]any, 6)
	for j := range env {
		env[j] = map[string]any{
			"name":        fmt.Sprintf("EXAMPLE_SETTING_%d", j),
			"description": fmt.Sprintf("Setting %d of the example service: host, port, user or a token", j),
			"isRequired":  j < 3,
			"isSecret":    j == 5,
		}
	}
	return map[string]any{
		"$schema":     "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
		"name":        name,
		"title":       fmt.Sprintf("server-%06d", i),
		"description": description,
		"version":     fmt.Sprintf("1.%d.0", i%7),
		"repository":  map[string]any{"url": fmt.Sprintf("https://github.com/example/server-%06d", i), "source": "github"},
		"packages": []any{map[string]any{
			"registryType":         "oci",
			"identifier":           image,
			"transport":            map[string]any{"type": "stdio"},
			"environmentVariables": env,
		}},
		"_meta": map[string]any{
			thvregistry.PublisherProvidedKey: map[string]any{
				"io.github.stacklok": map[string]any{
					image: map[string]any{
						"metadata":    map[string]any{"last_updated": "2026-01-01T00:00:00Z", "pulls": i * 3, "stars": i % 500},
						"permissions": map[string]any{"network": map[string]any{"outbound": map[string]any{"insecure_allow_all": true}}},
						"provenance": map[string]any{
							"sigstore_url":       "tuf-repo-cdn.sigstore.dev",
							"repository_uri":     "https://github.com/example/dockyard",
							"signer_identity":    "/.github/workflows/build-containers.yml",
							"runner_environment": "github-hosted",
							"cert_issuer":        "https://token.actions.githubusercontent.com",
						},
						"status": "Active",
						"tags":   []any{"example", fmt.Sprintf("group-%d", i%20), "database", "search"},
						"tier":   []string{"Official", "Community"}[i%2],
						"tools":  []any{"list_records", "get_record", "search_records", "update_record"},
					},
				},
			},
		},
	}
}
