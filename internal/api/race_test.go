//go:build race

package api

// raceEnabled: with the race detector a sync.Pool drops what it is given
// at random, so byte counts of allocations say nothing there.
const raceEnabled = true
