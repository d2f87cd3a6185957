// Package natscli checks the contract's promise that a downstream consumer
// needs nothing but NATS: it builds regsync from the parent module and the
// real nats CLI, runs `regsync serve`, and reads results, status and
// snapshots with the CLI alone.
//
// It is a module of its own, as nats.go keeps a separate test module, so
// that natscli and its requirements stay out of the service's go.mod. The
// nats CLI's version is the tool directive in this module's go.mod:
// `go -C cmd/regsync/natscli tool nats` runs it.
package natscli
