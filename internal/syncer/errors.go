package syncer

import "github.com/regsync/regsync/events"

// Condition types of a source's status, Kubernetes-style (defined in
// events, the public contract).
const (
	ConditionSourceAvailable = events.ConditionSourceAvailable
	ConditionDataValid       = events.ConditionDataValid
	ConditionSyncSuccessful  = events.ConditionSyncSuccessful
	ConditionAPIReady        = events.ConditionAPIReady
)

// Condition reasons carried by Error (defined in events).
const (
	ConditionReasonHandlerCreationFailed   = events.ConditionReasonHandlerCreationFailed
	ConditionReasonValidationFailed        = events.ConditionReasonValidationFailed
	ConditionReasonFetchFailed             = events.ConditionReasonFetchFailed
	ConditionReasonStorageFailed           = events.ConditionReasonStorageFailed
	ConditionReasonConfigInvalid           = events.ConditionReasonConfigInvalid
	ConditionReasonUnknownSource           = events.ConditionReasonUnknownSource
	ConditionReasonFilterRemovedEverything = events.ConditionReasonFilterRemovedEverything
	ConditionReasonMalformedTrigger        = events.ConditionReasonMalformedTrigger
)

// Failures lists the condition type and reason of every Error the Manager
// returns, so that what counts failures can show each at zero from the
// start. Keep it in step with the Errors built in this package.
var Failures = []struct{ ConditionType, ConditionReason string }{
	{ConditionSyncSuccessful, ConditionReasonConfigInvalid},
	{ConditionSourceAvailable, ConditionReasonFetchFailed},
	{ConditionDataValid, ConditionReasonValidationFailed},
	{ConditionDataValid, ConditionReasonFilterRemovedEverything},
	{ConditionSyncSuccessful, ConditionReasonStorageFailed},
}

// Error is a failed sync: which condition it breaks, why, and a message for
// people. Error() is the message; Unwrap gives the cause.
type Error struct {
	Err             error
	Message         string
	ConditionType   string
	ConditionReason string
}

func (e *Error) Error() string { return e.Message }

func (e *Error) Unwrap() error { return e.Err }

// newError returns the failure of an action (such as "Fetch failed")
// caused by err. Its message is cut to events.MaxMessageLen: it is stored
// in the status record and published in the sync.failed event, and the
// cause may quote outside input of any size.
func newError(action string, err error, conditionType, conditionReason string) *Error {
	return &Error{Err: err, Message: events.Clip(action+": "+err.Error(), events.MaxMessageLen),
		ConditionType: conditionType, ConditionReason: conditionReason}
}
