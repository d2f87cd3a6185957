package events

import "slices"

// Event types (the CloudEvents "type" attribute).
const (
	// TypeSourceChanged is published on the trigger subject when a watcher, a
	// poller or a webhook notices that a source may have changed.
	TypeSourceChanged = "io.regsync.source.changed.v1"
	// TypeSyncRequested is published on the trigger subject when a sync is
	// asked for: by hand, by the interval fallback or at startup.
	TypeSyncRequested = "io.regsync.sync.requested.v1"
	// TypeSyncCompleted is published on the result subject when a sync
	// stored new data.
	TypeSyncCompleted = "io.regsync.sync.completed.v1"
	// TypeSyncFailed is published on the result subject when a sync failed.
	// The last good snapshot is untouched.
	TypeSyncFailed = "io.regsync.sync.failed.v1"
	// TypeSyncSkipped is published on the result subject when triggers were
	// answered without a sync, for example because nothing changed.
	TypeSyncSkipped = "io.regsync.sync.skipped.v1"
	// TypeRegistryChanged is published on the registry's subject
	// (RegistrySubject) when the merged view of a registry changed:
	// exactly one event per generation.
	TypeRegistryChanged = "io.regsync.registry.changed.v1"
)

// Outcomes: the last token of a result subject.
const (
	OutcomeCompleted = "completed"
	OutcomeFailed    = "failed"
	OutcomeSkipped   = "skipped"
)

// OutcomeOf returns the outcome of a result event type (TypeSyncCompleted,
// TypeSyncFailed, TypeSyncSkipped), or "" for any other type.
func OutcomeOf(eventType string) string {
	switch eventType {
	case TypeSyncCompleted:
		return OutcomeCompleted
	case TypeSyncFailed:
		return OutcomeFailed
	case TypeSyncSkipped:
		return OutcomeSkipped
	}
	return ""
}

func knownOutcome(outcome string) bool {
	switch outcome {
	case OutcomeCompleted, OutcomeFailed, OutcomeSkipped:
		return true
	}
	return false
}

// Trigger kinds of a SourceChanged event.
const (
	// TriggerFile: the file watcher saw a local file change.
	TriggerFile = "file"
	// TriggerGitPoll: the git poller saw the watched ref move.
	TriggerGitPoll = "git-poll"
	// TriggerWebhook: a forge announced a push through a webhook.
	TriggerWebhook = "webhook"
	// TriggerHTTPPoll: the HTTP poller saw an api or file.url source
	// change.
	TriggerHTTPPoll = "http-poll"
)

// Trigger kinds of a SyncRequested event.
const (
	// TriggerManual: someone asked for a sync (regsync sync, nats pub).
	TriggerManual = "manual"
	// TriggerInterval: the source's fallback interval elapsed.
	TriggerInterval = "interval"
	// TriggerStartup: the service started and looks at every source once,
	// or a configuration reload added or changed the source (its event's
	// source names the reload producer, its id starts with rl-).
	TriggerStartup = "startup"
)

// Webhook providers, the Provider.Name of a SourceChanged event.
const (
	ProviderGitHub    = "github"
	ProviderGitLab    = "gitlab"
	ProviderGitea     = "gitea"
	ProviderBitbucket = "bitbucket"
	ProviderGeneric   = "generic"
)

// Providers returns the webhook providers, in the order regsync lists
// them: the one list that the receiver, the configuration and the event
// validation share.
func Providers() []string {
	return []string{ProviderGitHub, ProviderGitLab, ProviderGitea, ProviderBitbucket, ProviderGeneric}
}

// Reasons of a sync decision, in the ToolHive Registry Server's order, as
// a result's reason and the status record's lastReason spell them. The
// first five lead to a sync (SyncCompleted, or SyncFailed when it fails);
// the other six answer triggers without one (SyncSkipped).
const (
	ReasonRegistryNotReady      = "registry-not-ready"
	ReasonFilterChanged         = "filter-changed"
	ReasonSourceDataChanged     = "source-data-changed"
	ReasonErrorCheckingChanges  = "error-checking-data-changes"
	ReasonManualWithChanges     = "manual-sync-with-data-changes"
	ReasonAlreadyInProgress     = "sync-already-in-progress"
	ReasonManualNoChanges       = "manual-sync-no-data-changes"
	ReasonErrorParsingInterval  = "error-parsing-sync-interval"
	ReasonErrorCheckingSyncNeed = "error-checking-sync-need"
	ReasonUpToDateWithPolicy    = "up-to-date-with-policy"
	ReasonUpToDateNoPolicy      = "up-to-date-no-policy"
)

// Reasons of a SyncFailed that kept a trigger from being decided.
const (
	// ReasonUnknownSource: the trigger names a source regsync does not
	// sync.
	ReasonUnknownSource = "unknown-source"
	// ReasonMalformedTrigger: the trigger could not be read as one.
	ReasonMalformedTrigger = "malformed-trigger"
)

var (
	syncReasons = []string{ReasonRegistryNotReady, ReasonFilterChanged, ReasonSourceDataChanged,
		ReasonErrorCheckingChanges, ReasonManualWithChanges}
	noSyncReasons = []string{ReasonAlreadyInProgress, ReasonManualNoChanges, ReasonErrorParsingInterval,
		ReasonErrorCheckingSyncNeed, ReasonUpToDateWithPolicy, ReasonUpToDateNoPolicy}
)

// LeadsToSync reports whether a decision reason leads to a sync: it is one
// of the first five Reason constants, the reasons of a SyncCompleted.
func LeadsToSync(reason string) bool {
	return slices.Contains(syncReasons, reason)
}
