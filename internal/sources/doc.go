// Package sources fetches a source's raw registry bytes: the first step of
// every sync. A fetch is cheap by design: it returns the bytes, their hash
// and the revision they stand for, and leaves parsing and validation to the
// syncer, which runs them only when the hash says something changed.
package sources
