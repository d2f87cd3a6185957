// Package sources fetches a source's raw registry bytes: the first step of
// every sync. A fetch is cheap by design: it returns the bytes, their hash
// and the revision they stand for, and leaves parsing and validation to the
// syncer, which runs them only when the hash says something changed.
//
// A git source is checked cheap first. One reference listing (ls-remote)
// tells the commit its branch, tag or the remote HEAD points at; a pinned
// commit needs none. When the kept bare clone already has that commit, the
// file is read from it with nothing fetched; otherwise the ref alone is
// fetched at depth 1 (a pinned commit by its id when the server allows it,
// else with every branch and tag). The file is always read from the
// commit's tree, never from a work tree, and checked against its object id.
//
// Clones live under DataDir/git/<key>, one per repository, shared by every
// source on it and used by one operation at a time. A clone is bounded
// (Fetcher.MaxCloneSize, 512 MiB by default: a fetch that would grow it
// further fails and the clone is removed), starts afresh once it has grown
// past half that size or into many packs, and is rebuilt, once per fetch,
// when it is found damaged (files missing, truncated or garbled).
//
// The configured path must stay inside the repository: absolute paths and
// ".." segments are refused, and symlinks in the tree are followed only
// while they stay inside the repository ("symlink out of the repository"
// otherwise). Credentials are read from their files on every operation,
// and repository URLs in errors and logs go through redact.URL.
//
// A file.url source is fetched with a conditional GET: the Fetcher keeps
// the last 200 answer per URL (ETag, Last-Modified, body, digest) in
// memory, so an unchanged server answers 304 and the kept bytes are used
// without downloading them. Changed makes the same request for a poller.
//
// An api source (MCP registry API v0.1) is probed once per fetch
// (openapi.yaml), then listed 100 servers a page; its hash is the
// ToolHive Registry Server's, over the servers alone. Its cheap check
// asks for one server updated since the previous check.
//
// HTTP requests verify TLS unless a source sets insecureSkipVerify (then
// every fetch and check logs a warning), follow at most five redirects,
// never from https down to http, send a bearer token read from its file
// on every request, and are bounded by the source's timeout and by
// MaxSize. A 429 or 503 answer carries its Retry-After (see RetryAfter).
package sources
