package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Reasons of a RegistryChanged.
const (
	// RegistryReasonSourceChanged: a sync of one of the registry's sources
	// changed what the registry serves.
	RegistryReasonSourceChanged = "source-changed"
	// RegistryReasonConfigChanged: the registry was added to the
	// configuration, or its sources or their order changed.
	RegistryReasonConfigChanged = "registry-config-changed"
)

// MaxCauses is the most causes a RegistryChanged lists; CauseCount counts
// them all.
const MaxCauses = 100

// RegistryChanged is the data of TypeRegistryChanged: the merged view of a
// registry changed and was stored as a new generation in the object store
// regsync_registries.
type RegistryChanged struct {
	// Registry is the name of the registry.
	Registry string `json:"registry"`
	// Reason is why the view changed: RegistryReasonSourceChanged or
	// RegistryReasonConfigChanged.
	Reason string `json:"reason"`
	// Generation is the generation of the view now stored, counting from 1.
	Generation uint64 `json:"generation"`
	// PreviousGeneration is the generation it replaces; 0 for the first.
	PreviousGeneration uint64 `json:"previousGeneration"`
	// Causes are the source results that made this generation, at most
	// MaxCauses of them, in the registry's source order and each source's
	// oldest first: every sync of a source stored since the generation
	// before (of its last 100).
	Causes []Cause `json:"causes,omitempty"`
	// CauseCount is how many causes there are in all, listed or not.
	CauseCount int `json:"causeCount"`
	// Diff names the servers, skills and plugins this generation added,
	// updated and removed.
	Diff RegistryDiff `json:"diff"`
	// ServerCount, SkillCount and PluginCount count the entries of the
	// merged view.
	ServerCount int `json:"serverCount"`
	SkillCount  int `json:"skillCount"`
	PluginCount int `json:"pluginCount"`
	// ViewDigest is the digest of the merged view: equal on every replica
	// for the same stored data and configuration.
	ViewDigest string `json:"viewDigest"`
}

// Cause is a source result that changed a registry's view.
type Cause struct {
	// Source is the name of the source.
	Source string `json:"source"`
	// ResultID is the event id of the source's result, such as a
	// SyncCompleted.
	ResultID string `json:"resultId"`
	// Revision is the source revision that result stored, when the source
	// has one.
	Revision string `json:"revision,omitempty"`
}

// ViewDiff names the entries of one kind a generation of a registry added,
// updated and removed (the lists and counts of Diff), and those whose
// winning source changed.
type ViewDiff struct {
	Diff
	// SourceChanged are the names whose winning source changed, at most
	// MaxDiffNames in sorted order; each is in Added, Updated or Removed
	// too when its entry in the view changed with it.
	SourceChanged []string `json:"sourceChanged,omitempty"`
	// SourceChangedCount counts them all, listed or not; zero is left out.
	SourceChangedCount int `json:"sourceChangedCount,omitempty"`
}

// ViewDiffOf is the ViewDiff of sorted lists of names: each cut to its
// first MaxDiffNames, with the counts of all.
func ViewDiffOf(added, updated, removed, sourceChanged []string) ViewDiff {
	return ViewDiff{
		Diff:               DiffOf(added, updated, removed),
		SourceChanged:      sourceChanged[:min(len(sourceChanged), MaxDiffNames)],
		SourceChangedCount: len(sourceChanged),
	}
}

// RegistryDiff is the diff of a generation: the servers' ViewDiff, and
// those of skills and plugins (keyed namespace/name) when any changed.
type RegistryDiff struct {
	ViewDiff
	// Skills is the diff of the skills, nil when none changed.
	Skills *ViewDiff `json:"skills,omitempty"`
	// Plugins is the diff of the plugins, nil when none changed.
	Plugins *ViewDiff `json:"plugins,omitempty"`
}

// EventType implements Data.
func (RegistryChanged) EventType() string { return TypeRegistryChanged }

// SourceName implements Data: the registry's name, which is the event's
// subject attribute.
func (d RegistryChanged) SourceName() string { return d.Registry }

// Validate implements Data.
func (d RegistryChanged) Validate() error {
	if err := validateName("registry", "registry", d.Registry); err != nil {
		return err
	}
	if err := oneOf("reason", d.Reason, RegistryReasonSourceChanged, RegistryReasonConfigChanged); err != nil {
		return err
	}
	switch {
	case d.Generation == 0:
		return errors.New("generation: required, counting from 1")
	case d.PreviousGeneration >= d.Generation:
		return fmt.Errorf("previousGeneration: %d is not less than generation %d", d.PreviousGeneration, d.Generation)
	case len(d.Causes) > MaxCauses:
		return fmt.Errorf("causes: %d causes, at most %d allowed", len(d.Causes), MaxCauses)
	case d.CauseCount < len(d.Causes):
		return fmt.Errorf("causeCount: %d is less than the %d causes listed", d.CauseCount, len(d.Causes))
	case d.ServerCount < 0:
		return fmt.Errorf("serverCount: %d is negative", d.ServerCount)
	case d.SkillCount < 0:
		return fmt.Errorf("skillCount: %d is negative", d.SkillCount)
	case d.PluginCount < 0:
		return fmt.Errorf("pluginCount: %d is negative", d.PluginCount)
	case d.ViewDigest == "":
		return errors.New("viewDigest: required")
	}
	for i, c := range d.Causes {
		if err := validateName(fmt.Sprintf("causes[%d].source", i), "source", c.Source); err != nil {
			return err
		}
		if c.ResultID == "" {
			return fmt.Errorf("causes[%d].resultId: required", i)
		}
		if err := checkIDLen(fmt.Sprintf("causes[%d].resultId", i), c.ResultID); err != nil {
			return err
		}
	}
	if err := d.Diff.validate("diff", "server"); err != nil {
		return err
	}
	for _, sub := range []struct {
		field, kind string
		diff        *ViewDiff
	}{{"diff.skills", "skill", d.Diff.Skills}, {"diff.plugins", "plugin", d.Diff.Plugins}} {
		if sub.diff != nil {
			if err := sub.diff.validate(sub.field, sub.kind); err != nil {
				return err
			}
		}
	}
	return nil
}

// validate checks the lists and counts of a ViewDiff at field, whose
// names are of entries of kind.
func (d ViewDiff) validate(field, kind string) error {
	if err := d.Diff.validate(field, kind); err != nil {
		return err
	}
	for _, list := range []struct {
		field string
		names []string
	}{{"added", d.Added}, {"updated", d.Updated}, {"removed", d.Removed}, {"sourceChanged", d.SourceChanged}} {
		if len(list.names) > MaxDiffNames {
			return fmt.Errorf("%s.%s: %d names, at most %d allowed", field, list.field, len(list.names), MaxDiffNames)
		}
	}
	return checkNames(field+".sourceChanged", kind, d.SourceChanged, d.SourceChangedCount)
}

// RegistryStatus is the status record of a registry: the value of key
// <registry> in the key-value bucket regsync_registry_status
// (BucketRegistryStatus), as JSON. Readers are tolerant: a later regsync
// may add fields.
type RegistryStatus struct {
	// Generation is the generation of the view stored in
	// regsync_registries; 0 before the first.
	Generation uint64 `json:"generation"`
	// ViewDigest is the digest of that view.
	ViewDigest string `json:"viewDigest"`
	// ServerCount, SkillCount and PluginCount count its entries.
	ServerCount int `json:"serverCount"`
	SkillCount  int `json:"skillCount"`
	PluginCount int `json:"pluginCount"`
	// Sources are the registry's sources in its order of precedence, each
	// as the view was built from it.
	Sources []RegistrySource `json:"sources"`
	// LastChange is when the view last changed (its generation's time).
	LastChange *time.Time `json:"lastChange,omitempty"`
	// Conditions are ConditionReady, ConditionDegraded and
	// ConditionAPIReady.
	Conditions Conditions `json:"conditions"`
	// PendingEvent is the RegistryChanged event (CloudEvents JSON format)
	// of the generation this record describes, kept until REGSYNC_RESULTS
	// confirmed storing it. Whoever next holds the registry's lease
	// publishes it again, with the same id and content, before anything
	// else.
	PendingEvent json.RawMessage `json:"pendingEvent,omitempty"`
	// PendingChanges, kept beside PendingEvent, are the entries that
	// generation changed, as it holds them: a holder that takes over
	// when the view of that generation is gone and its object was never
	// stored diffs the next generation against the object of the one
	// before with these entries in place. Absent when the generation
	// changed more entries than a diff list names, or when the record
	// would not fit with them.
	PendingChanges *PendingChanges `json:"pendingChanges,omitempty"`
	// Epoch is random, new whenever the record is created: generations
	// start over when the record or its bucket is created again, the
	// epoch does not, so event ids g-<registry>-<epoch>-<generation>
	// never repeat.
	Epoch string `json:"epoch,omitempty"`
}

// PendingChanges are the entries a recorded generation changed against
// the generation before it (see RegistryStatus.PendingChanges).
type PendingChanges struct {
	// BaseViewDigest is the view digest of the generation before.
	BaseViewDigest string `json:"baseViewDigest"`
	// Entries are every entry added, updated or removed, sorted by kind
	// and name.
	Entries []ChangedEntry `json:"entries"`
}

// ChangedEntry is an entry of a registry's view as a generation holds
// it: its winning source and digest, or neither when it was removed.
type ChangedEntry struct {
	// Kind is "server", "skill" or "plugin".
	Kind string `json:"kind"`
	// Name is the entry's name (namespace/name for skills and plugins).
	Name string `json:"name"`
	// Source is the source that wins the entry; absent when removed.
	Source string `json:"source,omitempty"`
	// Digest fingerprints the winning source and every version of the
	// entry with its stored bytes; absent when removed.
	Digest string `json:"digest,omitempty"`
}

// RegistrySource is a source of a registry as its status record shows it.
type RegistrySource struct {
	// Name is the name of the source.
	Name string `json:"name"`
	// Phase is the phase of the source's own status record.
	Phase Phase `json:"phase"`
	// Revision is the revision of the source data in the view.
	Revision string `json:"revision,omitempty"`
	// LastSyncHash is the hash of the source data in the view.
	LastSyncHash string `json:"lastSyncHash,omitempty"`
	// ResultID is the event id of the result of the sync that stored the
	// source data in the view (its SyncCompleted).
	ResultID string `json:"resultId,omitempty"`
	// CommitGeneration and CommittedAt are those of the source's commit
	// marker in regsync_entries that the view was built from. A replica
	// whose view holds an older commit of a source (a lower generation,
	// committed no later) does not store it: it lags behind the view
	// stored.
	CommitGeneration uint64    `json:"commitGeneration,omitempty"`
	CommittedAt      time.Time `json:"committedAt,omitzero"`
}

// Behind reports whether s is an older commit of the same source than
// recorded: a lower commit generation, committed no later. A commit
// generation that starts over (regsync_entries created again) is
// committed later, so it is not behind.
func (s RegistrySource) Behind(recorded RegistrySource) bool {
	if s.CommitGeneration >= recorded.CommitGeneration {
		return false
	}
	return !s.CommittedAt.After(recorded.CommittedAt)
}

// Condition types of a registry's status record, with ConditionAPIReady.
const (
	// ConditionReady: every source of the registry is in its view.
	ConditionReady = "Ready"
	// ConditionDegraded: a source of the registry fails; its last good
	// entries are kept in the view. The message names the source.
	ConditionDegraded = "Degraded"
)

// Condition reasons of a registry's status record.
const (
	// ConditionReasonSourcesSynced: every source has been synced (Ready
	// true, Degraded false).
	ConditionReasonSourcesSynced = "SourcesSynced"
	// ConditionReasonSourceFailing: a source's last sync failed (Degraded
	// true).
	ConditionReasonSourceFailing = "SourceFailing"
	// ConditionReasonSourceNotSynced: a source has never been synced
	// (Ready false).
	ConditionReasonSourceNotSynced = "SourceNotSynced"
	// ConditionReasonViewStored: the view is stored in regsync_registries
	// (APIReady true).
	ConditionReasonViewStored = "ViewStored"
)

// SetCondition sets a condition, moving its transition time only when its
// status changes.
func (s *RegistryStatus) SetCondition(typ, status, reason, message string, now time.Time) {
	s.Conditions.Set(typ, status, reason, message, now)
}

// Condition returns the condition of the given type, if set.
func (s *RegistryStatus) Condition(typ string) (Condition, bool) {
	return s.Conditions.Get(typ)
}

// validate checks the lists and counts of a Diff at field, whose names
// are of entries of kind.
func (d Diff) validate(field, kind string) error {
	for _, list := range []struct {
		field string
		names []string
		count int
	}{{field + ".added", d.Added, d.AddedCount}, {field + ".updated", d.Updated, d.UpdatedCount},
		{field + ".removed", d.Removed, d.RemovedCount}} {
		if err := checkNames(list.field, kind, list.names, list.count); err != nil {
			return err
		}
	}
	return nil
}

// checkNames checks a list of names at field and its count: no empty
// name, a count that is not negative and not below the names listed (zero
// is an absent count).
func checkNames(field, kind string, names []string, count int) error {
	if i := slices.Index(names, ""); i >= 0 {
		return fmt.Errorf("%s[%d]: empty %s name", field, i, kind)
	}
	switch {
	case count < 0:
		return fmt.Errorf("%sCount: %d is negative", field, count)
	case count > 0 && count < len(names):
		return fmt.Errorf("%sCount: %d is less than the %d names listed", field, count, len(names))
	}
	return nil
}
