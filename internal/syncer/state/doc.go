// Package state keeps each source's sync status in the JetStream key-value
// bucket regsync_status, one key per source. Every write is a
// compare-and-swap on the key's revision, so replicas never overwrite each
// other's updates.
package state
