//go:build race

package bounded

// raceEnabled: the race detector's build copies a slice it grows, so byte
// counts of allocations say nothing there.
const raceEnabled = true
