package syncer

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
	ReasonRegistryNotReady:      "registry-not-ready",
	ReasonFilterChanged:         "filter-changed",
	ReasonSourceDataChanged:     "source-data-changed",
	ReasonErrorCheckingChanges:  "error-checking-data-changes",
	ReasonManualWithChanges:     "manual-sync-with-data-changes",
	ReasonAlreadyInProgress:     "sync-already-in-progress",
	ReasonManualNoChanges:       "manual-sync-no-data-changes",
	ReasonErrorParsingInterval:  "error-parsing-sync-interval",
	ReasonErrorCheckingSyncNeed: "error-checking-sync-need",
	ReasonUpToDateWithPolicy:    "up-to-date-with-policy",
	ReasonUpToDateNoPolicy:      "up-to-date-no-policy",
}

// Reasons returns every Reason, in order.
func Reasons() []Reason {
	rs := make([]Reason, len(reasonNames))
	for i := range rs {
		rs[i] = Reason(i)
	}
	return rs
}

// String is the reason's wire form, used in status and events.
func (r Reason) String() string {
	if r < 0 || int(r) >= len(reasonNames) {
		return "unknown-sync-reason"
	}
	return reasonNames[r]
}

// ShouldSync reports whether the reason calls for a sync.
func (r Reason) ShouldSync() bool {
	return r >= ReasonRegistryNotReady && r <= ReasonManualWithChanges
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
