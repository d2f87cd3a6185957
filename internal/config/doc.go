// Package config loads regsync's configuration file, fills in the defaults
// and validates it, reporting every problem at once.
//
// The sources: section is the ToolHive Registry Server's, so its users' files
// load unchanged: the same keys (matched case-insensitively), the same
// validation rules and the same error strings, except that every duration
// is read and refused in the same words (see Duration) and a SHA-256
// git.commit is refused. The sections of that server's file that regsync
// does not use (registries, database, auth, audit, telemetry, claims) are
// accepted with one warning each. Every other key must be known: an
// unknown key is an error that names the key, its line and where it sits.
//
// regsync's own sections (dataDir, nats, http, watch, webhooks, sync) carry
// defaults, so an empty section, or none at all, is valid.
//
// Use Load for a file and Parse for bytes. Both fill in the defaults and
// validate (see Config.Validate, which judges the configuration alone), and
// return the warnings worth showing to the user next to the configuration
// or the error. A returned error that describes problems in the file is a
// *ValidationError listing each of them. Config.CheckFiles is the separate
// check that the files the sources name can be read now.
package config
