package events

import (
	"regexp"
	"strings"
)

// JetStream resources. Their names are part of the regsync contract.
const (
	// StreamTriggers holds every reason to look at a source, on the subjects
	// regsync.trigger.<source>.
	StreamTriggers = "REGSYNC_TRIGGERS"
	// StreamResults holds the outcome of every sync, on the subjects
	// regsync.result.<source>.<outcome>.
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
)

// Subject wildcards.
const (
	// AllTriggers matches the trigger subject of every source.
	AllTriggers = triggerPrefix + "*"
	// AllResults matches the result subject of every source and outcome.
	AllResults = resultPrefix + "*.*"
)

const (
	triggerPrefix = "regsync.trigger."
	resultPrefix  = "regsync.result."
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
