// Package registry handles registry data between fetching and storing.
//
// In the sync pipeline, sources fetch the raw bytes of a registry (a file, a
// file in a git repository, an MCP registry API listing). This package turns
// those bytes into data the syncer can store:
//
//   - [Hash] fingerprints the raw bytes (the sources and the file watcher
//     use it), so unchanged data is noticed before anything is parsed;
//   - a [Builder] (or [Build]) is the one step the syncer runs on bytes
//     that changed: it checks them against the ToolHive upstream registry
//     schemas and the ToolHive Registry Server's whole data validation,
//     keeps the entries a source's [Filter] selects, and returns the
//     snapshot bytes to store, the counts before and after filtering
//     ([Tally]) and the digest index of the kept servers ([Index]). It
//     checks each server entry on its own and remembers the entries of its
//     last build, so a registry in which a few entries changed costs those;
//   - [FilterHash] fingerprints the filter so a changed filter triggers a
//     sync, [CheckKept] tells a filter that kept nothing of a source with
//     entries, and [CompareIndex] gives the diff of two snapshots' indexes
//     for the result event.
//
// [Parse] (which runs [Validate]), [Snapshot] (which runs [Apply], and
// [Encode] when the raw bytes cannot be cut) and [Counts] are the
// whole-registry path Build falls back to for input its entry-wise path is
// not sure about, so that errors keep their wording; the syncer does not
// call them itself. [Compare], which diffs two decoded registries, is the
// reference CompareIndex is tested against.
//
// Sub-package merge combines the entries of a registry's sources into the
// registry's view by the first-source-wins rule; sub-package views keeps
// those views current on every replica from the per-entry records source
// syncs write (internal/syncer/entries), and [SnapshotLists] cuts a
// stored snapshot into the entries those records hold.
//
// The registry types are toolhive-core's (UpstreamRegistry, with servers in
// the MCP registry's ServerJSON form). Validation, filtering and their error
// messages match the ToolHive Registry Server, so data and configurations
// that work there behave the same here.
package registry
