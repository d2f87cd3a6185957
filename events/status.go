package events

import (
	"encoding/json"
	"strconv"
	"time"
)

// Phase is where a source's sync stands: the phase of its status record.
type Phase string

// The phases of a source's status record, the ToolHive Registry Server's
// SyncStatus phases.
const (
	PhaseSyncing  Phase = "Syncing"
	PhaseComplete Phase = "Complete"
	PhaseFailed   Phase = "Failed"
)

// Condition is a Kubernetes-shaped condition of a status record.
type Condition struct {
	// Type is one of the condition types of the record, such as
	// ConditionSourceAvailable or ConditionReady.
	Type string `json:"type"`
	// Status is ConditionTrue, ConditionFalse or ConditionUnknown.
	Status string `json:"status"`
	// Reason is the machine-readable cause, one of the ConditionReason
	// constants.
	Reason string `json:"reason"`
	// Message says the same for people.
	Message string `json:"message"`
	// LastTransitionTime is when Status last changed.
	LastTransitionTime time.Time `json:"lastTransitionTime"`
}

// Condition statuses.
const (
	ConditionTrue    = "True"
	ConditionFalse   = "False"
	ConditionUnknown = "Unknown"
)

// Condition types of a source's status record. A failed sync sets one of
// them false: SyncFailed.ConditionType.
const (
	ConditionSourceAvailable = "SourceAvailable"
	ConditionDataValid       = "DataValid"
	ConditionSyncSuccessful  = "SyncSuccessful"
	// ConditionAPIReady is also a condition of a registry's status record:
	// the data can be served.
	ConditionAPIReady = "APIReady"
)

// sourceConditionTypes are the condition types a failed sync can set false.
var sourceConditionTypes = []string{ConditionSourceAvailable, ConditionDataValid, ConditionSyncSuccessful, ConditionAPIReady}

// Condition reasons of a failed sync (SyncFailed.ConditionReason and the
// condition it sets false).
const (
	ConditionReasonHandlerCreationFailed = "HandlerCreationFailed"
	ConditionReasonValidationFailed      = "ValidationFailed"
	ConditionReasonFetchFailed           = "FetchFailed"
	ConditionReasonStorageFailed         = "StorageFailed"
	ConditionReasonConfigInvalid         = "ConfigInvalid"
	ConditionReasonUnknownSource         = "UnknownSource"
	// ConditionReasonFilterRemovedEverything: the filter kept none of the
	// entries of a source that has some (DataValid).
	ConditionReasonFilterRemovedEverything = "FilterRemovedEverything"
	ConditionReasonMalformedTrigger        = "MalformedTrigger"
)

// Condition reasons of a source's status record that are not failures.
const (
	// ConditionReasonFetchSucceeded: the source was fetched
	// (SourceAvailable true).
	ConditionReasonFetchSucceeded = "FetchSucceeded"
	// ConditionReasonValidationSucceeded: the data is a valid upstream
	// registry (DataValid true).
	ConditionReasonValidationSucceeded = "ValidationSucceeded"
	// ConditionReasonSyncSucceeded: the last sync completed
	// (SyncSuccessful true).
	ConditionReasonSyncSucceeded = "SyncSucceeded"
	// ConditionReasonSnapshotStored: the last sync stored its snapshot
	// (APIReady true).
	ConditionReasonSnapshotStored = "SnapshotStored"
	// ConditionReasonLastGoodSnapshot: the last sync failed and the last
	// good snapshot is still served (APIReady true).
	ConditionReasonLastGoodSnapshot = "LastGoodSnapshot"
	// ConditionReasonNoSnapshot: no snapshot has been stored yet (APIReady
	// false).
	ConditionReasonNoSnapshot = "NoSnapshot"
	// ConditionReasonSourceRemoved: the source left the configuration; its
	// snapshot is kept (SyncSuccessful unknown).
	ConditionReasonSourceRemoved = "SourceRemoved"
)

// Conditions is the conditions of a status record, at most one per type.
type Conditions []Condition

// Set sets the condition of type typ, moving its transition time only when
// its status changes.
func (cs *Conditions) Set(typ, status, reason, message string, now time.Time) {
	for i := range *cs {
		c := &(*cs)[i]
		if c.Type != typ {
			continue
		}
		if c.Status != status {
			c.LastTransitionTime = now
		}
		c.Status, c.Reason, c.Message = status, reason, message
		return
	}
	*cs = append(*cs, Condition{Type: typ, Status: status, Reason: reason, Message: message, LastTransitionTime: now})
}

// Get returns the condition of type typ, if set.
func (cs Conditions) Get(typ string) (Condition, bool) {
	for _, c := range cs {
		if c.Type == typ {
			return c, true
		}
	}
	return Condition{}, false
}

// Status is the status record of a source: the value of key <source> in
// the key-value bucket regsync_status (BucketStatus), as JSON. Its fields
// are the ToolHive Registry Server's SyncStatus, with the same names, plus
// what an event-driven sync adds. Readers are tolerant: a later regsync
// may add fields.
type Status struct {
	// Phase is where the source's sync stands.
	Phase Phase `json:"phase"`
	// Message is the last outcome, for people.
	Message string `json:"message"`
	// LastAttempt is when the last attempt started.
	LastAttempt *time.Time `json:"lastAttempt,omitempty"`
	// LastSyncTime is when the last attempt ended, success or failure (as
	// in the ToolHive Registry Server).
	LastSyncTime *time.Time `json:"lastSyncTime,omitempty"`
	// LastSuccessTime is when the last successful sync ended: the age of
	// the data served.
	LastSuccessTime *time.Time `json:"lastSuccessTime,omitempty"`
	// AttemptCount counts consecutive failed attempts (0 after a success).
	AttemptCount int `json:"attemptCount"`
	// LastSyncHash is the hash of the last successfully synced data, kept
	// on failure.
	LastSyncHash string `json:"lastSyncHash"`
	// LastAppliedFilterHash is the hash of the filter of the last
	// successful sync.
	LastAppliedFilterHash string `json:"lastAppliedFilterHash"`
	// ServerCount, SkillCount and PluginCount count the entries of the last
	// good snapshot, kept on failure.
	ServerCount int `json:"serverCount"`
	SkillCount  int `json:"skillCount"`
	PluginCount int `json:"pluginCount"`
	// SyncSchedule is the source's syncPolicy.interval.
	SyncSchedule string `json:"syncSchedule"`
	// Revision is the commit SHA or file digest of the last good snapshot.
	Revision string `json:"revision"`
	// SnapshotDigest, SnapshotNUID and SnapshotSize describe the
	// snapshot the last good sync stored: the digest the writer computed
	// over its content, the NUID that names its chunks and its size in
	// bytes. A stored snapshot described otherwise was replaced behind
	// regsync's back. The object store does not check a digest it is
	// given, so a manual sync also reads the content back against it.
	SnapshotDigest string `json:"snapshotDigest,omitempty"`
	SnapshotNUID   string `json:"snapshotNuid,omitempty"`
	SnapshotSize   uint64 `json:"snapshotSize,omitempty"`
	// LastReason is the decision reason of the last result.
	LastReason string `json:"lastReason"`
	// LastTriggerID is the id of the last trigger answered.
	LastTriggerID string `json:"lastTriggerId"`
	// LastManualRequestID is the requestId of the last manual request
	// answered.
	LastManualRequestID string `json:"lastManualRequestId"`
	// NextSyncTime is the next interval slot or retry.
	NextSyncTime *time.Time `json:"nextSyncTime,omitempty"`
	// Conditions are ConditionSourceAvailable, ConditionDataValid,
	// ConditionSyncSuccessful and ConditionAPIReady.
	Conditions Conditions `json:"conditions"`
	// PendingResult is the result event (CloudEvents JSON format) of the
	// outcome this record describes, kept until REGSYNC_RESULTS confirmed
	// storing it. Whoever next holds the source's lease publishes it again,
	// with the same id and content, before anything else.
	PendingResult json.RawMessage `json:"pendingResult,omitempty"`
	// Epoch is random, new whenever a regsync process first writes the
	// record. Revisions start over when the record or its bucket is
	// created again, and repeat a backup's when it is restored; the epoch
	// does not repeat, so (epoch, revision) names one version of the
	// record for the life of the deployment.
	Epoch string `json:"epoch,omitempty"`
}

// Version names the record as it was at key revision rev, for ids that
// must never repeat: "<epoch>-<rev>" ("<rev>" for a record written before
// epochs existed, until a write gives it one).
func (s *Status) Version(rev uint64) string {
	n := strconv.FormatUint(rev, 10)
	if s.Epoch == "" {
		return n
	}
	return s.Epoch + "-" + n
}

// SetCondition sets a condition, moving its transition time only when its
// status changes.
func (s *Status) SetCondition(typ, status, reason, message string, now time.Time) {
	s.Conditions.Set(typ, status, reason, message, now)
}

// Condition returns the condition of the given type, if set.
func (s *Status) Condition(typ string) (Condition, bool) {
	return s.Conditions.Get(typ)
}
