package events

// BucketEntries is the key-value bucket of per-entry records written by
// source syncs: key <source>.<kind>.<name>.<version> (kind server, skill
// or plugin; name, "namespace/name" for skills and plugins, and version
// encoded as unpadded base64url, "_" for an empty string) holds one
// entry's bytes, digest, first and last change and whether it was
// removed; key <source>._commit is the commit marker of the source's last
// sync. A record is part of the source's data once a commit marker with
// its generation or a later one is stored, so a reader that applies
// records at commit markers never sees half a sync.
const BucketEntries = "regsync_entries"
