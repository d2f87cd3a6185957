// Package dirlock keeps a directory to one process: a regsync data
// directory holds one replica's clones, identity and (on the embedded
// server) JetStream store, which two processes would overwrite under each
// other.
package dirlock
