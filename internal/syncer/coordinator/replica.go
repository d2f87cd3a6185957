package coordinator

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// replicaIDFile holds a replica's identity in its data directory.
const replicaIDFile = "replica-id"

// ReplicaID returns the identity of the replica that keeps its data in
// dataDir, creating it on first use: the host name and a random suffix,
// kept in dataDir/replica-id. The same replica restarted on the same data
// directory gets the same identity, so it recognises the leases it held
// before a crash as its own (see Leases). Replicas must not share a data
// directory.
func ReplicaID(dataDir string) (string, error) {
	path := filepath.Join(dataDir, replicaIDFile)
	data, err := os.ReadFile(path)
	if err == nil {
		if id := strings.TrimSpace(string(data)); id != "" {
			return id, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read replica id: %w", err)
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "regsync"
	}
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		return "", fmt.Errorf("new replica id: %w", err)
	}
	id := host + "-" + hex.EncodeToString(suffix)
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return "", fmt.Errorf("write replica id: %w", err)
	}
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write replica id: %w", err)
	}
	return id, nil
}
