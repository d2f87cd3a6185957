//go:build race

package api

// raceEnabled: the race detector's build drops a quarter of what is put
// in a sync.Pool, so it allocates what a reused buffer saves elsewhere.
const raceEnabled = true
