package syncer

import (
	"hash/fnv"
	"time"
)

// Slot returns the interval slot of a source that starts after t, and when
// it starts. Slots are offset by a jitter derived from the source name, so
// many sources do not fire together, and every replica computes the same
// slots, so their triggers share the id iv-<source>-<slot> and collapse.
// It is the one schedule of the interval safety net: the interval producer
// fires on it, the status names its next slot, and IsIntervalSyncNeeded
// decides from it.
func Slot(source string, interval time.Duration, t time.Time) (int64, time.Time) {
	if interval <= 0 {
		return 0, time.Time{}
	}
	h := fnv.New64a()
	h.Write([]byte(source))
	offset := int64(h.Sum64() % uint64(interval))
	k := (t.UnixNano()-offset)/int64(interval) + 1
	return k, time.Unix(0, offset+k*int64(interval)).UTC()
}
