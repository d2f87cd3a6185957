package state

import (
	"crypto/rand"
	"slices"
	"strings"

	"github.com/regsync/regsync/events"
)

// The status record is part of the public contract: its type, phases and
// conditions are defined in the events package. These names keep the
// package's callers unchanged.
type (
	// Phase is events.Phase.
	Phase = events.Phase
	// Condition is events.Condition.
	Condition = events.Condition
	// Status is events.Status, the record kept per source.
	Status = events.Status
)

// The phases of the seed's SyncStatus.
const (
	PhaseSyncing  = events.PhaseSyncing
	PhaseComplete = events.PhaseComplete
	PhaseFailed   = events.PhaseFailed
)

// Condition statuses.
const (
	ConditionTrue    = events.ConditionTrue
	ConditionFalse   = events.ConditionFalse
	ConditionUnknown = events.ConditionUnknown
)

// newEpoch returns a random epoch of 10 lower-case letters and digits
// (50 bits).
func newEpoch() string {
	return strings.ToLower(rand.Text()[:10])
}

// NewEpoch returns a new random epoch, for other records that need one
// (a registry's status record).
func NewEpoch() string { return newEpoch() }

// Initial is the status of a source that has never been synced, as the
// seed records it.
func Initial(schedule string) *Status {
	return &Status{
		Phase:        PhaseFailed,
		Message:      "No previous sync status found",
		SyncSchedule: schedule,
		Conditions:   events.Conditions{},
	}
}

// clone returns a copy of s that shares nothing a mutation changes: the
// conditions and the pending result are copied; times are replaced, never
// changed in place.
func clone(s *Status) *Status {
	c := *s
	c.Conditions = slices.Clone(s.Conditions)
	c.PendingResult = slices.Clone(s.PendingResult)
	return &c
}
