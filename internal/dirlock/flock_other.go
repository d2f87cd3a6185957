//go:build !unix

package dirlock

import "os"

// tryLock does not lock on systems without flock: the pid is still
// recorded, and docs/configuration.md says that the data directory is locked
// on Unix systems only.
func tryLock(*os.File) (bool, error) { return true, nil }
