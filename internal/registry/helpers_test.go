package registry

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"testing"

	thvregistry "github.com/stacklok/toolhive-core/registry/types"
)

// sharedRegistryPath is the ToolHive Registry Server's example registry
// (12 servers), laid beside the checkout in shared/testdata.
const sharedRegistryPath = "../../../shared/testdata/registry/upstream-registry.json"

// readSharedRegistry returns the shared example registry, or skips the test
// when it is not there.
func readSharedRegistry(tb testing.TB) []byte {
	tb.Helper()
	raw, err := os.ReadFile(sharedRegistryPath)
	if errors.Is(err, fs.ErrNotExist) {
		tb.Skipf("shared test data %s is not present (it lives in ../shared beside the checkout); skipping", sharedRegistryPath)
	}
	if err != nil {
		tb.Fatalf("read shared test data: %v", err)
	}
	return raw
}

// minimalServer is the smallest server entry the schema accepts.
const minimalServer = `{"name":"io.test/one","description":"d","version":"1.0.0"}`

// registryDoc builds a registry document around a raw "data" value.
func registryDoc(version, lastUpdated, data string) string {
	return fmt.Sprintf(`{"$schema":%q,"version":%q,"meta":{"last_updated":%q},"data":%s}`,
		thvregistry.UpstreamRegistrySchemaURL, version, lastUpdated, data)
}

// withServers builds a valid-looking registry holding the given server
// entries (raw JSON objects).
func withServers(servers ...string) string {
	data := `{"servers":[`
	for i, s := range servers {
		if i > 0 {
			data += ","
		}
		data += s
	}
	return registryDoc("1.0.0", "2025-01-01T00:00:00Z", data+`]}`)
}

// withData builds a registry with a raw "data" value.
func withData(data string) string {
	return registryDoc("1.0.0", "2025-01-01T00:00:00Z", data)
}

// withExtensions builds a one-server registry whose server carries the
// given publisher-provided extensions (a raw JSON object).
func withExtensions(extensions string) string {
	return withServers(`{"name":"io.test/one","description":"d","version":"1.0.0",` +
		`"_meta":{"io.modelcontextprotocol.registry/publisher-provided":` + extensions + `}}`)
}

// stacklokExtension builds publisher-provided extensions with one
// io.github.stacklok entry made of the given raw JSON fields.
func stacklokExtension(fields string) string {
	return `{"io.github.stacklok":{"ghcr.io/test/one:1.0.0":{` + fields + `}}}`
}

// minimalRegistry is a valid one-server registry.
var minimalRegistry = withServers(minimalServer)
