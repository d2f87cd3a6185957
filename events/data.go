package events

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Data is the payload of a regsync event. SourceChanged, SyncRequested,
// SyncCompleted, SyncFailed, SyncSkipped and RegistryChanged implement it.
type Data interface {
	// EventType returns the CloudEvents type the data belongs to.
	EventType() string
	// SourceName returns the name of the source the event is about (of the
	// registry, for RegistryChanged); it is also the event's CloudEvents
	// subject.
	SourceName() string
	// Validate reports the first missing or malformed field, by its JSON name.
	Validate() error
}

// DataType is the set of data structs this package defines; DecodeData
// accepts exactly these.
type DataType interface {
	SourceChanged | SyncRequested | SyncCompleted | SyncFailed | SyncSkipped | RegistryChanged
	Data
}

// MaxCoveredIDs is the most trigger ids a result lists in
// Covered.TriggerIDs. Triggers past it are still counted in
// Covered.TriggerCount and covered by Covered.TriggerSeq.
const MaxCoveredIDs = 100

// MaxIDLen is the most bytes an event id or a requestId may have. Ids are
// repeated in every result that answers them and in the status record, so
// a trigger with a longer one is refused as malformed.
const MaxIDLen = 256

// ErrTooLong is wrapped by the errors of ids and requestIds over MaxIDLen.
var ErrTooLong = errors.New("too long")

// checkIDLen refuses an id over MaxIDLen bytes, naming field.
func checkIDLen(field, id string) error {
	if len(id) > MaxIDLen {
		return fmt.Errorf("%s: %w: %d bytes, more than the %d allowed", field, ErrTooLong, len(id), MaxIDLen)
	}
	return nil
}

// MaxCoveredBytes is the most bytes of ids a Covered lists, triggerIds and
// requestIds together: past it ids are counted and covered by sequence but
// not listed, so that the ids of coalesced triggers never make a result
// too large to publish.
const MaxCoveredBytes = 16 << 10

// MaxMessageLen is the most bytes of the message of a SyncFailed: a longer
// error (thousands of validation failures, a remote's whole error page) is
// cut with Clip before it is recorded.
const MaxMessageLen = 8 << 10

// Clip returns s cut to at most n bytes on a character boundary, with "…"
// at its end when it was cut, so that a value quoted from outside input
// has a bounded size and says that it was shortened.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	cut := max(n-len(mark), 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	if n < len(mark) {
		return s[:cut]
	}
	return s[:cut] + mark
}

// SourceChanged is the data of TypeSourceChanged: a producer noticed that a
// source may have changed.
type SourceChanged struct {
	// Source is the name of the source.
	Source string `json:"source"`
	// Trigger is what noticed it: TriggerFile, TriggerGitPoll,
	// TriggerHTTPPoll or TriggerWebhook.
	Trigger string `json:"trigger"`
	// Revision is the revision seen: a commit SHA for git, a content digest
	// for files (local or file.url). A trigger whose revision equals the
	// stored one is answered without fetching. Empty for an api source, and
	// when the producer saw the source unavailable (a missing file, a git
	// remote that does not answer), so that a worker fetches and records
	// why.
	Revision string `json:"revision,omitempty"`
	// Provider describes the webhook delivery. Set exactly when Trigger is
	// TriggerWebhook.
	Provider *Provider `json:"provider,omitempty"`
}

// Provider describes the webhook delivery behind a SourceChanged event.
type Provider struct {
	// Name is the forge: ProviderGitHub, ProviderGitLab, ProviderGitea,
	// ProviderBitbucket or ProviderGeneric.
	Name string `json:"name"`
	// DeliveryID is the forge's id of the delivery; redeliveries repeat it.
	DeliveryID string `json:"deliveryId,omitempty"`
	// Event is the forge's event name, such as "push".
	Event string `json:"event,omitempty"`
	// Ref is the git ref that was pushed, such as "refs/heads/main".
	Ref string `json:"ref,omitempty"`
	// Pusher is who pushed, as the forge names them.
	Pusher string `json:"pusher,omitempty"`
	// Repository is the repository the delivery is about, as the forge
	// names it (for example "stacklok/toolhive-catalog").
	Repository string `json:"repository,omitempty"`
}

// SyncRequested is the data of TypeSyncRequested: a sync was asked for.
type SyncRequested struct {
	// Source is the name of the source.
	Source string `json:"source"`
	// Trigger is who asked: TriggerManual, TriggerInterval or TriggerStartup.
	Trigger string `json:"trigger"`
	// RequestID is the requester's id for a manual request, if it gave one.
	RequestID string `json:"requestId,omitempty"`
}

// Covered tells which triggers a result answers. It is embedded in every
// result: SyncCompleted, SyncFailed and SyncSkipped.
type Covered struct {
	// TriggerIDs are the event ids of the triggers this result answers, at
	// most MaxCoveredIDs of them.
	TriggerIDs []string `json:"triggerIds,omitempty"`
	// TriggerCount is how many triggers this result answers in all,
	// including those cut from TriggerIDs.
	TriggerCount int `json:"triggerCount"`
	// TriggerSeq is the highest REGSYNC_TRIGGERS stream sequence covered:
	// every trigger of this source with a stream sequence at or below it is
	// answered by this result or an earlier one.
	TriggerSeq uint64 `json:"triggerSeq"`
	// StartedAt is when the work that produced this result started.
	StartedAt time.Time `json:"startedAt"`
	// RequestIDs are the requestIds of the manual sync requests this result
	// answers, at most MaxCoveredIDs of them, so that a requester finds its
	// answer by its own id.
	RequestIDs []string `json:"requestIds,omitempty"`
}

// Cover records that the result answers the trigger with event id id and
// stream sequence seq: it counts it, lists its id while there is room (at
// most MaxCoveredIDs ids, MaxCoveredBytes bytes of ids with the requestIds),
// and raises TriggerSeq to seq.
func (c *Covered) Cover(id string, seq uint64) {
	c.TriggerCount++
	if len(c.TriggerIDs) < MaxCoveredIDs && c.room(id) {
		c.TriggerIDs = append(c.TriggerIDs, id)
	}
	c.TriggerSeq = max(c.TriggerSeq, seq)
}

// room reports whether id can be listed: it is at most MaxIDLen bytes,
// and the ids listed with it at most MaxCoveredBytes.
func (c *Covered) room(id string) bool {
	return len(id) <= MaxIDLen && c.listedBytes()+len(id) <= MaxCoveredBytes
}

// listedBytes counts the bytes of the ids listed.
func (c *Covered) listedBytes() int {
	n := 0
	for _, ids := range [][]string{c.TriggerIDs, c.RequestIDs} {
		for _, id := range ids {
			n += len(id)
		}
	}
	return n
}

// CoverRequest records that the result answers the manual request with id
// requestID: it is listed in RequestIDs once, while there is room. An empty
// id is not listed.
func (c *Covered) CoverRequest(requestID string) {
	if requestID != "" && len(c.RequestIDs) < MaxCoveredIDs && !slices.Contains(c.RequestIDs, requestID) && c.room(requestID) {
		c.RequestIDs = append(c.RequestIDs, requestID)
	}
}

// Answers reports whether the result answers the manual request with id
// requestID.
func (c Covered) Answers(requestID string) bool {
	return requestID != "" && slices.Contains(c.RequestIDs, requestID)
}

// Covers reports whether the result answers the trigger with event id id
// and stream sequence seq: its id is listed, or its sequence is at or below
// TriggerSeq. A seq of 0 (unknown) matches by id only.
func (c Covered) Covers(id string, seq uint64) bool {
	return slices.Contains(c.TriggerIDs, id) || (seq > 0 && seq <= c.TriggerSeq)
}

// ResultOf returns the triggers a result answers and its reason; ok is
// false for data that is not a result (sync.completed, sync.failed or
// sync.skipped).
func ResultOf(d Data) (c Covered, reason string, ok bool) {
	switch r := d.(type) {
	case SyncCompleted:
		return r.Covered, r.Reason, true
	case SyncFailed:
		return r.Covered, r.Reason, true
	case SyncSkipped:
		return r.Covered, r.Reason, true
	}
	return Covered{}, "", false
}

func (c Covered) validate() error {
	if len(c.TriggerIDs) > MaxCoveredIDs {
		return fmt.Errorf("triggerIds: %d ids, at most %d allowed", len(c.TriggerIDs), MaxCoveredIDs)
	}
	if i := slices.Index(c.TriggerIDs, ""); i >= 0 {
		return fmt.Errorf("triggerIds[%d]: empty id", i)
	}
	if c.TriggerCount < len(c.TriggerIDs) {
		return fmt.Errorf("triggerCount: %d is less than the %d triggerIds listed", c.TriggerCount, len(c.TriggerIDs))
	}
	if c.StartedAt.IsZero() {
		return errors.New("startedAt: required")
	}
	if len(c.RequestIDs) > MaxCoveredIDs {
		return fmt.Errorf("requestIds: %d ids, at most %d allowed", len(c.RequestIDs), MaxCoveredIDs)
	}
	if i := slices.Index(c.RequestIDs, ""); i >= 0 {
		return fmt.Errorf("requestIds[%d]: empty id", i)
	}
	for _, list := range []struct {
		field string
		ids   []string
	}{{"triggerIds", c.TriggerIDs}, {"requestIds", c.RequestIDs}} {
		for i, id := range list.ids {
			if err := checkIDLen(fmt.Sprintf("%s[%d]", list.field, i), id); err != nil {
				return err
			}
		}
	}
	if n := c.listedBytes(); n > MaxCoveredBytes {
		return fmt.Errorf("triggerIds, requestIds: %d bytes of ids, more than the %d allowed", n, MaxCoveredBytes)
	}
	return nil
}

// SyncCompleted is the data of TypeSyncCompleted: a sync fetched, filtered
// and stored the source's registry.
type SyncCompleted struct {
	// Source is the name of the source.
	Source string `json:"source"`
	// Reason is why the sync ran: registry-not-ready, filter-changed,
	// source-data-changed, error-checking-data-changes or
	// manual-sync-with-data-changes.
	Reason string `json:"reason"`
	Covered
	// PreviousHash is the source data hash before this sync; empty on the
	// first sync.
	PreviousHash string `json:"previousHash,omitempty"`
	// Hash is the source data hash now stored.
	Hash string `json:"hash"`
	// Revision is the revision synced (commit SHA, file digest), when the
	// source has one.
	Revision string `json:"revision,omitempty"`
	// ServerCount is the number of servers stored, after filtering.
	ServerCount int `json:"serverCount"`
	// SkillCount is the number of skills stored, after filtering.
	SkillCount int `json:"skillCount"`
	// PluginCount is the number of plugins stored, after filtering.
	PluginCount int `json:"pluginCount"`
	// Diff names the servers added, updated and removed by this sync.
	Diff Diff `json:"diff"`
	// DurationMs is how long the sync took, in milliseconds.
	DurationMs int64 `json:"durationMs"`
	// SnapshotDigest is the digest of the object written to the
	// regsync_data object store.
	SnapshotDigest string `json:"snapshotDigest"`
	// FilterHash is the hash of the filter applied, when the source has one.
	FilterHash string `json:"filterHash,omitempty"`
}

// MaxDiffNames is the most names each list of a Diff holds, so that the
// result of a sync of a large registry (the first sync of 100,000 servers
// adds them all) stays within MaxEventSize; the counts say how many there
// are in all.
const MaxDiffNames = 1000

// Diff names the servers a sync added, updated and removed: each list the
// first MaxDiffNames names in sorted order, and the counts of all.
type Diff struct {
	// Added are the names of servers that are new.
	Added []string `json:"added,omitempty"`
	// Updated are the names of servers whose entry changed.
	Updated []string `json:"updated,omitempty"`
	// Removed are the names of servers that are gone.
	Removed []string `json:"removed,omitempty"`
	// AddedCount, UpdatedCount and RemovedCount count the servers of each
	// list, named there or not; zero is left out. Events of earlier
	// versions carry no counts and list every name: see Counts.
	AddedCount   int `json:"addedCount,omitempty"`
	UpdatedCount int `json:"updatedCount,omitempty"`
	RemovedCount int `json:"removedCount,omitempty"`
}

// DiffOf is the Diff of sorted lists of names: each cut to its first
// MaxDiffNames, with the counts of all.
func DiffOf(added, updated, removed []string) Diff {
	first := func(names []string) []string { return names[:min(len(names), MaxDiffNames)] }
	return Diff{
		Added: first(added), Updated: first(updated), Removed: first(removed),
		AddedCount: len(added), UpdatedCount: len(updated), RemovedCount: len(removed),
	}
}

// Counts returns how many servers were added, updated and removed: the
// counts, or the lengths of the lists in an event without counts.
func (d Diff) Counts() (added, updated, removed int) {
	return max(d.AddedCount, len(d.Added)), max(d.UpdatedCount, len(d.Updated)), max(d.RemovedCount, len(d.Removed))
}

// SyncFailed is the data of TypeSyncFailed: a sync failed, and the last good
// snapshot and hash are kept.
type SyncFailed struct {
	// Source is the name of the source.
	Source string `json:"source"`
	// Reason is the sync decision reason the attempt ran for, or what kept
	// it from being decided, such as unknown-source.
	Reason string `json:"reason"`
	Covered
	// ConditionType is the status condition the failure sets false:
	// SourceAvailable, DataValid, SyncSuccessful or APIReady.
	ConditionType string `json:"conditionType"`
	// ConditionReason is the machine-readable cause, such as FetchFailed,
	// ValidationFailed, FilterRemovedEverything or StorageFailed.
	ConditionReason string `json:"conditionReason"`
	// Message is the human-readable error.
	Message string `json:"message"`
	// AttemptCount is the number of consecutive failed sync attempts, this
	// one included; 0 when the failure came before any attempt (an unknown
	// source, an invalid configuration).
	AttemptCount int `json:"attemptCount"`
	// NextRetryTime is when the next attempt is due, if one is scheduled.
	NextRetryTime *time.Time `json:"nextRetryTime,omitempty"`
	// Revision is the revision that was being synced, when known.
	Revision string `json:"revision,omitempty"`
	// DurationMs is how long the attempt took, in milliseconds.
	DurationMs int64 `json:"durationMs"`
}

// SyncSkipped is the data of TypeSyncSkipped: triggers were answered without
// a sync.
type SyncSkipped struct {
	// Source is the name of the source.
	Source string `json:"source"`
	// Reason is why no sync ran: sync-already-in-progress,
	// manual-sync-no-data-changes, error-parsing-sync-interval,
	// error-checking-sync-need, up-to-date-with-policy or
	// up-to-date-no-policy.
	Reason string `json:"reason"`
	Covered
	// Revision is the revision found, when known.
	Revision string `json:"revision,omitempty"`
	// Hash is the source data hash that is still stored, when known.
	Hash string `json:"hash,omitempty"`
}

// EventType implements Data.
func (SourceChanged) EventType() string { return TypeSourceChanged }

// EventType implements Data.
func (SyncRequested) EventType() string { return TypeSyncRequested }

// EventType implements Data.
func (SyncCompleted) EventType() string { return TypeSyncCompleted }

// EventType implements Data.
func (SyncFailed) EventType() string { return TypeSyncFailed }

// EventType implements Data.
func (SyncSkipped) EventType() string { return TypeSyncSkipped }

// SourceName implements Data.
func (d SourceChanged) SourceName() string { return d.Source }

// SourceName implements Data.
func (d SyncRequested) SourceName() string { return d.Source }

// SourceName implements Data.
func (d SyncCompleted) SourceName() string { return d.Source }

// SourceName implements Data.
func (d SyncFailed) SourceName() string { return d.Source }

// SourceName implements Data.
func (d SyncSkipped) SourceName() string { return d.Source }

// Validate implements Data.
func (d SourceChanged) Validate() error {
	if err := validateSource(d.Source); err != nil {
		return err
	}
	if err := oneOf("trigger", d.Trigger, TriggerFile, TriggerGitPoll, TriggerWebhook, TriggerHTTPPoll); err != nil {
		return err
	}
	if d.Trigger != TriggerWebhook {
		if d.Provider != nil {
			return fmt.Errorf("provider: only allowed for trigger webhook, not %s", d.Trigger)
		}
		return nil
	}
	if d.Provider == nil {
		return errors.New("provider: required for trigger webhook")
	}
	return oneOf("provider.name", d.Provider.Name, Providers()...)
}

// Validate implements Data.
func (d SyncRequested) Validate() error {
	if err := validateSource(d.Source); err != nil {
		return err
	}
	if err := oneOf("trigger", d.Trigger, TriggerManual, TriggerInterval, TriggerStartup); err != nil {
		return err
	}
	return checkIDLen("requestId", d.RequestID)
}

// Validate implements Data.
func (d SyncCompleted) Validate() error {
	if err := validateResult(d.Source, d.Reason, d.Covered, syncReasons...); err != nil {
		return err
	}
	switch {
	case d.Hash == "":
		return errors.New("hash: required")
	case d.SnapshotDigest == "":
		return errors.New("snapshotDigest: required")
	case d.ServerCount < 0:
		return fmt.Errorf("serverCount: %d is negative", d.ServerCount)
	case d.SkillCount < 0:
		return fmt.Errorf("skillCount: %d is negative", d.SkillCount)
	case d.PluginCount < 0:
		return fmt.Errorf("pluginCount: %d is negative", d.PluginCount)
	case d.DurationMs < 0:
		return fmt.Errorf("durationMs: %d is negative", d.DurationMs)
	}
	return d.Diff.validate("diff", "server")
}

// Validate implements Data.
func (d SyncFailed) Validate() error {
	if err := validateSource(d.Source); err != nil {
		return err
	}
	if d.Reason == "" {
		return errors.New("reason: required")
	}
	if err := d.Covered.validate(); err != nil {
		return err
	}
	if err := oneOf("conditionType", d.ConditionType, sourceConditionTypes...); err != nil {
		return err
	}
	switch {
	case d.ConditionReason == "":
		return errors.New("conditionReason: required")
	case d.Message == "":
		return errors.New("message: required")
	case len(d.Message) > MaxMessageLen:
		return fmt.Errorf("message: %d bytes, more than the %d allowed", len(d.Message), MaxMessageLen)
	case d.AttemptCount < 0:
		return fmt.Errorf("attemptCount: %d is negative", d.AttemptCount)
	case d.NextRetryTime != nil && d.NextRetryTime.IsZero():
		return errors.New("nextRetryTime: zero time")
	case d.DurationMs < 0:
		return fmt.Errorf("durationMs: %d is negative", d.DurationMs)
	}
	return nil
}

// Validate implements Data.
func (d SyncSkipped) Validate() error {
	return validateResult(d.Source, d.Reason, d.Covered, noSyncReasons...)
}

func validateSource(source string) error {
	return validateName("source", "source", source)
}

// validateName checks the name of a source or registry (kind) at field.
func validateName(field, kind, name string) error {
	if name == "" {
		return fmt.Errorf("%s: required", field)
	}
	if !ValidSourceName(name) {
		return fmt.Errorf("%s: %q is not a valid %s name (a DNS label: lower-case letters, digits and '-', at most 63 characters)", field, name, kind)
	}
	return nil
}

func validateResult(source, reason string, c Covered, reasons ...string) error {
	if err := validateSource(source); err != nil {
		return err
	}
	if err := oneOf("reason", reason, reasons...); err != nil {
		return err
	}
	return c.validate()
}

func oneOf(field, value string, allowed ...string) error {
	if value == "" {
		return fmt.Errorf("%s: required", field)
	}
	if !slices.Contains(allowed, value) {
		return fmt.Errorf("%s: %q is not one of %s", field, value, strings.Join(allowed, ", "))
	}
	return nil
}
