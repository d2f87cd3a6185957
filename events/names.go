package events

import (
	"regexp"
	"strings"

	"github.com/regsync/regsync/schemas"
)

// JetStream resources. Their names are part of the regsync contract.
const (
	// StreamTriggers holds every reason to look at a source, on the subjects
	// regsync.trigger.<source>.
	StreamTriggers = "REGSYNC_TRIGGERS"
	// StreamResults holds the outcome of every sync, on the subjects
	// regsync.result.<source>.<outcome>, and every change of a registry's
	// view, on the subjects regsync.registry.<registry>.changed.
	StreamResults = "REGSYNC_RESULTS"
	// BucketStatus is the key-value bucket with one status record per source,
	// keyed by source name.
	BucketStatus = "regsync_status"
	// BucketLocks is the key-value bucket with the per-source sync lease,
	// keyed by source name.
	BucketLocks = "regsync_locks"
	// ObjectStoreData is the object store holding the last good, filtered
	// registry JSON of each source, named by source name.
	ObjectStoreData = "regsync_data"
	// ObjectStoreRegistries is the object store holding the merged
	// registry JSON of each registry (upstream format), named by registry
	// name; its metadata carries MetaGeneration, MetaViewDigest and the
	// counts.
	ObjectStoreRegistries = "regsync_registries"
	// BucketRegistryStatus is the key-value bucket with one status record
	// per registry (RegistryStatus), keyed by registry name.
	BucketRegistryStatus = "regsync_registry_status"
)

// Metadata keys of the objects in regsync_data and regsync_registries
// (`nats object info`). A source's snapshot carries MetaRevision,
// MetaLastSyncHash, MetaFilterHash and the counts; its digest index
// (object <source>.index) carries MetaSnapshotDigest; a registry's merged
// object carries MetaGeneration, MetaViewDigest and the counts. Counts are
// decimal integers.
const (
	MetaRevision       = "revision"
	MetaLastSyncHash   = "lastSyncHash"
	MetaFilterHash     = "lastAppliedFilterHash"
	MetaServerCount    = "serverCount"
	MetaSkillCount     = "skillCount"
	MetaPluginCount    = "pluginCount"
	MetaSnapshotDigest = "snapshotDigest"
	MetaGeneration     = "generation"
	MetaViewDigest     = "viewDigest"
)

// Subject wildcards.
const (
	// AllTriggers matches the trigger subject of every source.
	AllTriggers = triggerPrefix + "*"
	// AllResults matches the result subject of every source and outcome.
	AllResults = resultPrefix + "*.*"
	// AllRegistryChanges matches the subject of every registry's
	// RegistryChanged events.
	AllRegistryChanges = registryPrefix + "*" + registryChangedSuffix
)

const (
	triggerPrefix         = "regsync.trigger."
	resultPrefix          = "regsync.result."
	registryPrefix        = "regsync.registry."
	registryChangedSuffix = ".changed"
)

// TriggerSubject returns the subject that triggers for source are published
// on: regsync.trigger.<source>. source must be a valid source name (see
// ValidSourceName).
func TriggerSubject(source string) string {
	return triggerPrefix + source
}

// ResultSubject returns the subject that results with outcome for source are
// published on: regsync.result.<source>.<outcome>. source must be a valid
// source name and outcome one of the Outcome constants.
func ResultSubject(source, outcome string) string {
	return resultPrefix + source + "." + outcome
}

// SourceResults returns the wildcard matching every result of one source:
// regsync.result.<source>.*.
func SourceResults(source string) string {
	return resultPrefix + source + ".*"
}

// RegistrySubject returns the subject that the RegistryChanged events of
// registry are published on: regsync.registry.<registry>.changed. registry
// must be a valid registry name (a DNS label, as ValidSourceName checks).
func RegistrySubject(registry string) string {
	return registryPrefix + registry + registryChangedSuffix
}

// RegistryFromSubject returns the registry named by a registry subject
// (regsync.registry.<registry>.changed). It reports false for any other
// subject and for a wildcard.
func RegistryFromSubject(subject string) (string, bool) {
	rest, ok := strings.CutPrefix(subject, registryPrefix)
	if !ok {
		return "", false
	}
	registry, ok := strings.CutSuffix(rest, registryChangedSuffix)
	if !ok || !ValidSourceName(registry) {
		return "", false
	}
	return registry, true
}

// SourceFromSubject returns the source named by a trigger subject
// (regsync.trigger.<source>) or a result subject
// (regsync.result.<source>.<outcome>). It reports false for any other
// subject, for a wildcard, and for a result subject with an unknown outcome.
func SourceFromSubject(subject string) (string, bool) {
	if source, ok := strings.CutPrefix(subject, triggerPrefix); ok {
		if !ValidSourceName(source) {
			return "", false
		}
		return source, true
	}
	if rest, ok := strings.CutPrefix(subject, resultPrefix); ok {
		source, outcome, ok := strings.Cut(rest, ".")
		if !ok || !knownOutcome(outcome) || !ValidSourceName(source) {
			return "", false
		}
		return source, true
	}
	return "", false
}

var sourceNamePattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// ValidSourceName reports whether name is a valid source name: a DNS label
// of lower-case letters, digits and '-', 1 to 63 characters, starting and
// ending with a letter or digit. Such a name is always a single NATS subject
// token and a valid key-value key.
func ValidSourceName(name string) bool {
	return sourceNamePattern.MatchString(name)
}

// schemaNames names the schema of each event type's data.
var schemaNames = map[string]string{
	TypeSourceChanged:   "source-changed.v1",
	TypeSyncRequested:   "sync-requested.v1",
	TypeSyncCompleted:   "sync-completed.v1",
	TypeSyncFailed:      "sync-failed.v1",
	TypeSyncSkipped:     "sync-skipped.v1",
	TypeRegistryChanged: "registry-changed.v1",
}

// DataSchema returns the $id of the JSON Schema of an event type's data,
// such as urn:regsync:schema:sync-completed.v1, which is also the
// dataschema attribute of regsync's events of that type; "" for a type
// regsync does not define. schemas.LookupID returns the schema by that $id.
func DataSchema(eventType string) string {
	name, ok := schemaNames[eventType]
	if !ok {
		return ""
	}
	return schemas.ID(name)
}

// Producer names: the last part of the source attribute of the events each
// regsync producer publishes (see ProducerSource).
const (
	ProducerFileWatcher = "fswatch"
	ProducerGitPoller   = "gitpoll"
	ProducerHTTPPoller  = "httppoll"
	ProducerCLI         = "cli"
	ProducerInterval    = "interval"
	ProducerStartup     = "startup"
	ProducerReload      = "reload"
	ProducerCoordinator = "coordinator"
	// ProducerMerger is the registry merger, which publishes
	// RegistryChanged.
	ProducerMerger = "merger"
)

// ProducerWebhook returns the producer name of a webhook receiver:
// webhook/<provider>.
func ProducerWebhook(provider string) string {
	return "webhook/" + provider
}

// sourcePrefix begins the source attribute of every regsync event.
const sourcePrefix = "urn:regsync:"

// ProducerSource returns the CloudEvents source attribute of the events a
// regsync producer publishes: urn:regsync:<deployment>:<producer>, where
// deployment is the id the deployment created once and keeps in JetStream
// (the regsync.deployment metadata of the REGSYNC_RESULTS stream) and
// producer one of the Producer names, such as
// urn:regsync:k7c2m9q4x1z8v3b6n5w0t2r7y4:coordinator. Event ids are unique
// within a deployment, so (source, id) identifies an event across
// deployments.
func ProducerSource(deployment, producer string) string {
	return sourcePrefix + deployment + ":" + producer
}
