// Package coordinator runs the sync workers. It consumes triggers from the
// REGSYNC_TRIGGERS stream through one durable consumer shared by every
// replica, coalesces the triggers of each source into batches, holds a
// per-source lease in regsync_locks while it syncs, asks the syncer Manager
// what to do, records the outcome in regsync_status and answers every
// batch with exactly one result event on REGSYNC_RESULTS.
//
// A trigger is acknowledged only after its result is published, so a
// replica that dies mid-sync loses nothing: its triggers are redelivered
// and its lease expires within seconds.
package coordinator
