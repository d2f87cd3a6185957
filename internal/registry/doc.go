// Package registry handles registry data between fetching and storing.
//
// In the sync pipeline, sources fetch the raw bytes of a registry (a file, a
// file in a git repository, an MCP registry API listing). This package turns
// those bytes into data the syncer can store:
//
//   - [Hash] fingerprints the raw bytes, so unchanged data is noticed before
//     anything is parsed;
//   - [Validate] checks the bytes against the ToolHive upstream registry
//     schemas, and [Parse] runs the ToolHive Registry Server's whole data
//     validation pipeline and decodes the registry;
//   - [Apply] keeps the entries a source's [Filter] selects, and [FilterHash]
//     fingerprints the filter so a changed filter triggers a sync;
//   - [Counts] and [Compare] describe the result for status records and
//     events;
//   - [Encode] produces the snapshot bytes the syncer stores.
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
