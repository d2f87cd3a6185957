// Package api serves registries over the MCP registry API v0.1, the routes
// and shapes of the ToolHive Registry Server, from memory.
//
// A registry's content is given as records ([ServerRecord],
// [ArtifactRecord]) and prepared once by [Build] into an immutable [View]:
// sorted, indexed, each entry encoded with its registry metadata. A
// [Handler] holds one view per registry behind an atomic pointer; [Handler.Swap]
// replaces it whole, and requests read whichever view was current when
// they started, never locking and never reading a store. Every answer
// carries a weak ETag computed from the view's digest and the normalised
// request before any body is built, so If-None-Match is answered 304
// without building one.
package api
