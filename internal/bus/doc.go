// Package bus is regsync's connection to NATS: it starts the embedded
// nats-server when no external URL is configured (requiring a user and
// password of every client, the generated one kept in a 0600 file),
// connects clients (with credentials and TLS for a secured cluster, and
// errors that say whether authentication, TLS or reaching the server
// failed), creates every stream, key-value bucket and object store of the
// contract that is missing (leaving an operator's settings on those that
// exist), and keeps the deployment id that names every event's producer.
//
// Everything else in the pipeline reaches JetStream through the handles
// returned here: producers publish triggers (through Producer), the sync
// coordinator consumes them, and state and writer keep status and
// snapshots.
package bus
