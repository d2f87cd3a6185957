package events

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
	// TriggerStartup: the service started and looks at every source once.
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

// Reasons of a sync decision, as the sync worker reports them. The first
// five lead to a sync; the other six answer triggers without one.
var (
	syncReasons = []string{
		"registry-not-ready",
		"filter-changed",
		"source-data-changed",
		"error-checking-data-changes",
		"manual-sync-with-data-changes",
	}
	noSyncReasons = []string{
		"sync-already-in-progress",
		"manual-sync-no-data-changes",
		"error-parsing-sync-interval",
		"error-checking-sync-need",
		"up-to-date-with-policy",
		"up-to-date-no-policy",
	}
)

// Status condition types a failed sync can set false.
var conditionTypes = []string{"SourceAvailable", "DataValid", "SyncSuccessful", "APIReady"}
