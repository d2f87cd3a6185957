package state

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDoesNotLinkNATSServer keeps the status store a client of JetStream:
// whatever reads or writes status records (the CLI, a consumer's tool)
// must not link the embedded server.
func TestDoesNotLinkNATSServer(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/nats-io/nats-server") {
			t.Fatalf("state depends on %s", pkg)
		}
	}
}
