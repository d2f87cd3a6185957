package syncer

import "github.com/regsync/regsync/events"

// Reason is why a source is, or is not, synced. The values and their order
// are the seed's; Reason.ShouldSync is true for the first five.
type Reason int

const (
	ReasonRegistryNotReady Reason = iota
	ReasonFilterChanged
	ReasonSourceDataChanged
	ReasonErrorCheckingChanges
	ReasonManualWithChanges
	ReasonAlreadyInProgress
	ReasonManualNoChanges
	ReasonErrorParsingInterval
	ReasonErrorCheckingSyncNeed
	ReasonUpToDateWithPolicy
	ReasonUpToDateNoPolicy
)

var reasonNames = [...]string{
	ReasonRegistryNotReady:      events.ReasonRegistryNotReady,
	ReasonFilterChanged:         events.ReasonFilterChanged,
	ReasonSourceDataChanged:     events.ReasonSourceDataChanged,
	ReasonErrorCheckingChanges:  events.ReasonErrorCheckingChanges,
	ReasonManualWithChanges:     events.ReasonManualWithChanges,
	ReasonAlreadyInProgress:     events.ReasonAlreadyInProgress,
	ReasonManualNoChanges:       events.ReasonManualNoChanges,
	ReasonErrorParsingInterval:  events.ReasonErrorParsingInterval,
	ReasonErrorCheckingSyncNeed: events.ReasonErrorCheckingSyncNeed,
	ReasonUpToDateWithPolicy:    events.ReasonUpToDateWithPolicy,
	ReasonUpToDateNoPolicy:      events.ReasonUpToDateNoPolicy,
}

// Reasons returns every Reason, in order.
func Reasons() []Reason {
	rs := make([]Reason, len(reasonNames))
	for i := range rs {
		rs[i] = Reason(i)
	}
	return rs
}

// String is the reason's wire form, used in status and events (the
// events.Reason constants).
func (r Reason) String() string {
	if r < 0 || int(r) >= len(reasonNames) {
		return "unknown-sync-reason"
	}
	return reasonNames[r]
}

// ShouldSync reports whether the reason calls for a sync: whether its
// wire form is one of the reasons events.LeadsToSync names.
func (r Reason) ShouldSync() bool {
	return events.LeadsToSync(r.String())
}

// IsError reports whether the reason means the decision itself failed, so
// the answer to the trigger is a failure rather than a skip.
func (r Reason) IsError() bool {
	return r == ReasonErrorParsingInterval || r == ReasonErrorCheckingSyncNeed
}

// IsManualSync reports whether the reason answers a manual request.
func IsManualSync(r Reason) bool {
	return r == ReasonManualWithChanges || r == ReasonManualNoChanges
}
