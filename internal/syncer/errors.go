package syncer

// Condition types of a source's status, Kubernetes-style.
const (
	ConditionSourceAvailable = "SourceAvailable"
	ConditionDataValid       = "DataValid"
	ConditionSyncSuccessful  = "SyncSuccessful"
	ConditionAPIReady        = "APIReady"
)

// Condition reasons carried by Error.
const (
	ConditionReasonHandlerCreationFailed = "HandlerCreationFailed"
	ConditionReasonValidationFailed      = "ValidationFailed"
	ConditionReasonFetchFailed           = "FetchFailed"
	ConditionReasonStorageFailed         = "StorageFailed"
	ConditionReasonConfigInvalid         = "ConfigInvalid"
	ConditionReasonUnknownSource         = "UnknownSource"
	ConditionReasonRevisionNotServed     = "RevisionNotServed"
	// ConditionReasonFilterRemovedEverything: the filter kept none of the
	// entries of a source that has some (DataValid).
	ConditionReasonFilterRemovedEverything = "FilterRemovedEverything"
)

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
