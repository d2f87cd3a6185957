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

	"github.com/regsync/regsync/internal/bounded"
)

// replicaIDFile holds a replica's identity in its data directory.
const replicaIDFile = "replica-id"

// maxReplicaIDLength bounds a replica id: it is written in every lease.
const maxReplicaIDLength = 128

// ReplicaID returns the identity of the replica that keeps its data in
// dataDir, creating it on first use: the host name and a random suffix,
// kept in dataDir/replica-id. The same replica restarted on the same data
// directory gets the same identity, so it recognises the leases it held
// before a crash as its own (see Leases). Replicas must not share a data
// directory.
//
// The file is read as every file is (a regular file only, bounded), and
// must hold a short printable id: at most maxReplicaIDLength visible ASCII
// characters, surrounding white space aside. An empty file gets a new id.
func ReplicaID(dataDir string) (string, error) {
	path := filepath.Join(dataDir, replicaIDFile)
	data, err := bounded.ReadFile(path, 4<<10)
	switch {
	case err == nil:
		id := strings.TrimSpace(string(data))
		if id == "" {
			break
		}
		if err := checkReplicaID(id); err != nil {
			return "", fmt.Errorf("read replica id %s: %w (remove the file to get a new id)", path, err)
		}
		return id, nil
	case errors.Is(err, fs.ErrNotExist):
	default:
		if _, ok := errors.AsType[*bounded.TooLargeError](err); ok {
			err = fmt.Errorf("the file is %w, not a replica id (remove it to get a new id)", err)
		}
		return "", fmt.Errorf("read replica id %s: %w", path, err)
	}
	host, err := os.Hostname()
	if err != nil || checkReplicaID(host) != nil || len(host) > maxReplicaIDLength-9 {
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

// checkReplicaID says what is wrong with id, if anything.
func checkReplicaID(id string) error {
	if len(id) > maxReplicaIDLength {
		return fmt.Errorf("the id is %d bytes long, at most %d are allowed", len(id), maxReplicaIDLength)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("the id holds byte %#02x at offset %d: only visible ASCII characters are allowed", c, i)
		}
	}
	return nil
}
