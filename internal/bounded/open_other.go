//go:build !unix

package bounded

// openFlags: outside unix there are no FIFOs in the file system to block
// an open.
const openFlags = 0
