// Package bus is regsync's connection to NATS: it starts the embedded
// nats-server when no external URL is configured, connects clients (with
// credentials and TLS for a secured cluster), and creates every stream,
// key-value bucket and object store of the contract idempotently.
//
// Everything else in the pipeline reaches JetStream through the handles
// returned here: producers publish triggers, the sync coordinator consumes
// them, and state and writer keep status and snapshots.
package bus
