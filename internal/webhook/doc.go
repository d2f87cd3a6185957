// Package webhook receives the webhooks of git forges (GitHub, GitLab,
// Gitea with Forgejo and Gogs, Bitbucket Cloud and Data Center) and of any
// other system (the generic receiver), and turns each verified push into
// io.regsync.source.changed.v1 triggers for the sources it concerns. Like
// every producer (see package watch for where the others live) it never
// syncs: it notices, publishes and answers.
//
// # Verification
//
// Every request is verified before its body is read as an event: an
// HMAC-SHA256 signature of the body (GitHub X-Hub-Signature-256, Gitea
// X-Gitea-Signature, Forgejo X-Forgejo-Signature, Gogs X-Gogs-Signature,
// Bitbucket X-Hub-Signature, generic X-Signature) or GitLab's shared token
// (X-Gitlab-Token), compared in constant time. A request is accepted when it
// proves knowledge of the provider's secret (webhooks.<provider>) or of a
// source's own secret for that provider (git.webhookSecretFile, for the
// receiver git.webhookProvider names or the repository's host implies); a
// request proven by a source secret alone may trigger that source and no
// other, and one for a repository only other sources follow is answered
// 401. A provider with no secret at all, or whose configured secret cannot
// be read, is disabled and answers 404.
//
// # Bounds
//
// Bodies are read before they are verified, so the bytes they hold are
// bounded: each reserves its length (a body of unknown length 64 KiB at
// first, and more as it grows) out of Options.MaxUnverified in all and
// twice Options.MaxBody per client until it is verified (429 past the
// client's share, 503 past the total, before reading or as it grows). A
// quarter of the total is kept for small bodies, those of at most 64 KiB,
// as every real push is: a larger body may not take the free bytes below
// it, and once they are down to it one client may hold an eighth of it. A
// body must arrive at 64 KiB per 5 s after a grace of 5 s: one that falls
// behind is cut (its blocked read interrupted through the connection's
// read deadline) and answered 408, so slow senders give their share back
// within seconds. Each delivery is logged in one line, bounded per minute
// (package ratelog); serve counts every answer in
// regsync_webhook_requests_total.
//
// # Matching
//
// A push triggers every git source whose repository is the pushed one and
// whose ref was pushed. Repository URLs are compared after normalisation:
// the scheme (https, http, ssh, git, scp-like user@host:path), user info,
// the scheme's default port, a trailing ".git" and "/" are dropped and the
// host is lower-cased. Paths are compared without regard to letter case:
// every supported forge resolves owner and repository names
// case-insensitively, so two paths that differ only in case name the same
// repository there. The pushed ref must be the source's: refs/heads/<branch>
// for a branch source, refs/tags/<tag> for a tag source, and for a source
// with neither, the repository's default branch when the payload names it,
// else any branch. Commit-pinned sources ignore pushes. Deleting the ref a
// source follows triggers it with no revision, so that its sync reports the
// missing ref.
//
// # Answers
//
// 202 once every trigger is stored (the TriggerSender returns after JetStream
// acknowledged it), 200 for pings and for deliveries that concern no
// source, 400 for a malformed body, 401 for a missing or wrong signature,
// 404 for an unknown or disabled provider, 405 for a method other than POST,
// 408 for a body that arrived too slowly, 413 for a body over the limit, 429
// when a client exceeds its rate or its share of unverified bytes and 503
// with Retry-After when the unverified bytes are at their bound or a
// trigger cannot be stored. Each trigger's id is
// wh-<provider>-<delivery>-<source>, so a redelivery collapses in
// JetStream's duplicate window and is still answered 202.
package webhook
