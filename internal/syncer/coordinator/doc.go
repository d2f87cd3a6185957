// Package coordinator runs the sync workers. It consumes triggers from the
// REGSYNC_TRIGGERS stream through one durable consumer shared by every
// replica, coalesces the triggers of each source into batches, holds a
// per-source lease in regsync_locks while it syncs, asks the syncer Manager
// what to do, records the outcome in regsync_status and answers every
// batch with exactly one result event on REGSYNC_RESULTS.
//
// It also holds the two producers that decide from the status records it
// keeps: Interval, the safety net that requests a sync of every source at
// each of its interval slots (syncer.Slot) and retries failed ones, and
// Startup, the pass at start that triggers every source not Complete or
// due. Like every producer they only publish triggers.
//
// What keeps it correct under faults:
//   - A batch is read in stream order, so a redelivered old trigger never
//     hides a newer observation (batch.go).
//   - The outcome and its result event are written in one status update and
//     the event is published until stored, with the same id and content,
//     before a trigger is acknowledged (outcome.go).
//   - Every JetStream request has its own timeout, well under the lease
//     time; a lease that cannot be renewed stops the sync (lease.go).
//   - A worker never waits for a lease held elsewhere: the batch waits, the
//     worker moves on (queue.go), until the holder lets the lease go (a
//     watch on regsync_locks, watchLeases) or, for a holder that died, the
//     next look at the lease. A batch that could not be answered waits
//     too, for a pause that grows with the source's failures in a row
//     (queueRetry, the one retry's Delay). A replica restarted on the same data
//     directory takes its former leases over at once (replica.go).
//   - A delivery is held, and kept alive three times per AckWait, from the
//     moment it arrives until it is answered (inbox.go, keepAlive), so a live
//     replica never loses one however long its sync; a dead replica's come
//     back after DefaultAckWait (1 s), to another replica or to itself
//     restarted. Shutdown waits DefaultDrainTimeout for syncs in flight,
//     then hands the rest back.
package coordinator
