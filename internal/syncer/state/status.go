package state

import (
	"crypto/rand"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Phase is where a source's sync stands.
type Phase string

// The phases of the seed's SyncStatus.
const (
	PhaseSyncing  Phase = "Syncing"
	PhaseComplete Phase = "Complete"
	PhaseFailed   Phase = "Failed"
)

// Condition is a Kubernetes-shaped condition.
type Condition struct {
	Type               string    `json:"type"`
	Status             string    `json:"status"`
	Reason             string    `json:"reason"`
	Message            string    `json:"message"`
	LastTransitionTime time.Time `json:"lastTransitionTime"`
}

// Condition statuses.
const (
	ConditionTrue    = "True"
	ConditionFalse   = "False"
	ConditionUnknown = "Unknown"
)

// Status is the record kept per source: the seed's SyncStatus fields with
// the same names, plus what an event-driven sync adds.
type Status struct {
	Phase        Phase      `json:"phase"`
	Message      string     `json:"message"`
	LastAttempt  *time.Time `json:"lastAttempt,omitempty"`
	LastSyncTime *time.Time `json:"lastSyncTime,omitempty"`
	// LastSuccessTime is when the last successful sync ended; LastSyncTime
	// moves on failures too, as in the seed.
	LastSuccessTime       *time.Time `json:"lastSuccessTime,omitempty"`
	AttemptCount          int        `json:"attemptCount"`
	LastSyncHash          string     `json:"lastSyncHash"`
	LastAppliedFilterHash string     `json:"lastAppliedFilterHash"`
	ServerCount           int        `json:"serverCount"`
	SkillCount            int        `json:"skillCount"`
	PluginCount           int        `json:"pluginCount"`
	SyncSchedule          string     `json:"syncSchedule"`
	Revision              string     `json:"revision"`
	// SnapshotDigest, SnapshotNUID and SnapshotSize describe the
	// snapshot the last good sync stored: the digest the writer computed
	// over its content, the NUID that names its chunks and its size in
	// bytes. A stored snapshot described otherwise was replaced behind
	// regsync's back. The object store does not check a digest it is
	// given, so a manual sync also reads the content back against it.
	SnapshotDigest      string      `json:"snapshotDigest,omitempty"`
	SnapshotNUID        string      `json:"snapshotNuid,omitempty"`
	SnapshotSize        uint64      `json:"snapshotSize,omitempty"`
	LastReason          string      `json:"lastReason"`
	LastTriggerID       string      `json:"lastTriggerId"`
	LastManualRequestID string      `json:"lastManualRequestId"`
	NextSyncTime        *time.Time  `json:"nextSyncTime,omitempty"`
	Conditions          []Condition `json:"conditions"`
	// PendingResult is the result event (CloudEvents JSON format) of the
	// outcome this record describes, kept until REGSYNC_RESULTS confirmed
	// storing it. Whoever next holds the source's lease publishes it again,
	// with the same id and content, before anything else.
	PendingResult json.RawMessage `json:"pendingResult,omitempty"`
	// Epoch is random, new whenever a regsync process first writes the
	// record (see Store.Update). Revisions start over when the record or
	// its bucket is created again, and repeat a backup's when it is
	// restored; the epoch does not repeat, so (epoch, revision) names one
	// version of the record for the life of the deployment.
	Epoch string `json:"epoch,omitempty"`
}

// newEpoch returns a random epoch of 10 lower-case letters and digits
// (50 bits).
func newEpoch() string {
	return strings.ToLower(rand.Text()[:10])
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

// Initial is the status of a source that has never been synced, as the
// seed records it.
func Initial(schedule string) *Status {
	return &Status{
		Phase:        PhaseFailed,
		Message:      "No previous sync status found",
		SyncSchedule: schedule,
		Conditions:   []Condition{},
	}
}

// clone returns a copy that shares nothing a mutation changes: the
// conditions and the pending result are copied; times are replaced, never
// changed in place.
func (s *Status) clone() *Status {
	c := *s
	c.Conditions = slices.Clone(s.Conditions)
	c.PendingResult = slices.Clone(s.PendingResult)
	return &c
}

// SetCondition sets a condition, moving its transition time only when its
// status changes.
func (s *Status) SetCondition(typ, status, reason, message string, now time.Time) {
	for i := range s.Conditions {
		c := &s.Conditions[i]
		if c.Type != typ {
			continue
		}
		if c.Status != status {
			c.LastTransitionTime = now
		}
		c.Status, c.Reason, c.Message = status, reason, message
		return
	}
	s.Conditions = append(s.Conditions, Condition{
		Type: typ, Status: status, Reason: reason, Message: message, LastTransitionTime: now,
	})
}

// Condition returns the condition of the given type, if set.
func (s *Status) Condition(typ string) (Condition, bool) {
	for _, c := range s.Conditions {
		if c.Type == typ {
			return c, true
		}
	}
	return Condition{}, false
}
