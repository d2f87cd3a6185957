package events

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var testStart = time.Date(2026, 3, 14, 9, 27, 2, 201_000_000, time.UTC)

// fullData returns one value of every data type with every field set.
func fullData() []Data {
	retry := testStart.Add(4 * time.Minute)
	covered := Covered{
		TriggerIDs:   []string{"gp-toolhive-6113728f", "wh-github-72d3162e-toolhive"},
		TriggerCount: 2,
		TriggerSeq:   4812,
		StartedAt:    testStart,
	}
	return []Data{
		SourceChanged{
			Source:   "toolhive",
			Trigger:  TriggerWebhook,
			Revision: "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
			Provider: &Provider{
				Name:       ProviderGitHub,
				DeliveryID: "72d3162e-cc78-11e3-81ab-4c9367dc0958",
				Event:      "push",
				Ref:        "refs/heads/main",
				Pusher:     "Codertocat",
				Repository: "stacklok/toolhive-catalog",
			},
		},
		SyncRequested{Source: "toolhive", Trigger: TriggerManual, RequestID: "5f0c6b9e"},
		SyncCompleted{
			Source:       "toolhive",
			Reason:       "source-data-changed",
			Covered:      covered,
			PreviousHash: "b5d4045c",
			Hash:         "e3f1c2a9",
			Revision:     "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
			ServerCount:  142,
			SkillCount:   9,
			PluginCount:  3,
			Diff: Diff{
				Added:      []string{"io.github.stacklok/osv"},
				Updated:    []string{"io.github.stacklok/fetch"},
				Removed:    []string{"io.github.stacklok/time"},
				AddedCount: 1, UpdatedCount: 1, RemovedCount: 1,
			},
			DurationMs:     2185,
			SnapshotDigest: "SHA-256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=",
			FilterHash:     "4f53cda1",
		},
		SyncFailed{
			Source:          "mcp-registry",
			Reason:          "error-checking-data-changes",
			Covered:         covered,
			ConditionType:   "SyncSuccessful",
			ConditionReason: "FetchFailed",
			Message:         "Fetch failed: 503 Service Unavailable",
			AttemptCount:    3,
			NextRetryTime:   &retry,
			Revision:        "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
			DurationMs:      10429,
		},
		SyncSkipped{
			Source:   "toolhive",
			Reason:   "manual-sync-no-data-changes",
			Covered:  covered,
			Revision: "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
			Hash:     "e3f1c2a9",
		},
		RegistryChanged{
			Registry:           "default",
			Reason:             RegistryReasonSourceChanged,
			Generation:         8,
			PreviousGeneration: 7,
			Causes: []Cause{
				{Source: "internal", ResultID: "r-internal-jk3v9q2m1x-41", Revision: "6113728f27ae82c7b1a177c8d03f9e96e0adf246"},
				{Source: "upstream", ResultID: "r-upstream-p0w8z7c2b5-12"},
			},
			CauseCount: 2,
			Diff: RegistryDiff{
				ViewDiff: ViewDiff{
					Diff: Diff{
						Added:      []string{"io.github.stacklok/osv"},
						Updated:    []string{"io.github.stacklok/fetch"},
						Removed:    []string{"io.github.stacklok/time"},
						AddedCount: 1, UpdatedCount: 1, RemovedCount: 1,
					},
					SourceChanged:      []string{"io.github.stacklok/fetch"},
					SourceChangedCount: 1,
				},
				Skills: &ViewDiff{
					Diff:               Diff{Added: []string{"stacklok/review"}, AddedCount: 1},
					SourceChanged:      []string{"stacklok/lint"},
					SourceChangedCount: 1,
				},
				Plugins: &ViewDiff{Diff: Diff{Removed: []string{"stacklok/old"}, RemovedCount: 1}},
			},
			ServerCount: 150,
			SkillCount:  12,
			PluginCount: 3,
			ViewDigest:  "SHA-256=8kq3ZbXy1Qm0pA7fT2vR9sL4nH6cJ5dW3eU0iO1yB2E=",
		},
	}
}

func TestValidateAcceptsFullData(t *testing.T) {
	for _, d := range fullData() {
		t.Run(d.EventType(), func(t *testing.T) {
			if err := d.Validate(); err != nil {
				t.Fatalf("Validate() = %v", err)
			}
		})
	}
}

func TestValidateAcceptsMinimalData(t *testing.T) {
	covered := Covered{TriggerCount: 0, StartedAt: testStart}
	for _, d := range []Data{
		SourceChanged{Source: "local-dev", Trigger: TriggerFile},
		SourceChanged{Source: "a", Trigger: TriggerWebhook, Provider: &Provider{Name: ProviderGeneric}},
		SyncRequested{Source: "toolhive", Trigger: TriggerStartup},
		SyncCompleted{Source: "toolhive", Reason: "registry-not-ready", Covered: covered, Hash: "h", SnapshotDigest: "d"},
		SyncFailed{Source: "nosuch", Reason: "unknown-source", Covered: covered, ConditionType: "SourceAvailable",
			ConditionReason: "UnknownSource", Message: "m"},
		SyncSkipped{Source: "toolhive", Reason: "up-to-date-no-policy", Covered: covered},
		RegistryChanged{Registry: "default", Reason: RegistryReasonConfigChanged, Generation: 1, ViewDigest: "d"},
	} {
		t.Run(d.EventType(), func(t *testing.T) {
			if err := d.Validate(); err != nil {
				t.Fatalf("Validate() = %v", err)
			}
		})
	}
}

func TestValidateRejects(t *testing.T) {
	full := fullData()
	changed := full[0].(SourceChanged)
	requested := full[1].(SyncRequested)
	completed := full[2].(SyncCompleted)
	failed := full[3].(SyncFailed)
	skipped := full[4].(SyncSkipped)
	registry := full[5].(RegistryChanged)
	zero := time.Time{}

	tests := []struct {
		name string
		data Data
		want string
	}{
		{"empty source", with(changed, func(d *SourceChanged) { d.Source = "" }), "source: required"},
		{"source with upper case", with(requested, func(d *SyncRequested) { d.Source = "ToolHive" }), `source: "ToolHive" is not a valid source name`},
		{"source with a dot", with(completed, func(d *SyncCompleted) { d.Source = "tool.hive" }), "source:"},
		{"source ending in a dash", with(skipped, func(d *SyncSkipped) { d.Source = "toolhive-" }), "source:"},
		{"source of 64 characters", with(failed, func(d *SyncFailed) { d.Source = strings.Repeat("a", 64) }), "source:"},
		{"changed without trigger", with(changed, func(d *SourceChanged) { d.Trigger = "" }), "trigger: required"},
		{"changed with a request trigger", with(changed, func(d *SourceChanged) { d.Trigger = TriggerManual }), `trigger: "manual" is not one of file, git-poll, webhook, http-poll`},
		{"webhook without provider", with(changed, func(d *SourceChanged) { d.Provider = nil }), "provider: required for trigger webhook"},
		{"provider on a file trigger", with(changed, func(d *SourceChanged) { d.Trigger = TriggerFile }), "provider: only allowed for trigger webhook"},
		{"unknown provider", with(changed, func(d *SourceChanged) { d.Provider = &Provider{Name: "sourcehut"} }), `provider.name: "sourcehut" is not one of`},
		{"provider without name", with(changed, func(d *SourceChanged) { d.Provider = &Provider{} }), "provider.name: required"},
		{"requested with a change trigger", with(requested, func(d *SyncRequested) { d.Trigger = TriggerWebhook }), `trigger: "webhook" is not one of manual, interval, startup`},
		{"completed without reason", with(completed, func(d *SyncCompleted) { d.Reason = "" }), "reason: required"},
		{"completed with a skip reason", with(completed, func(d *SyncCompleted) { d.Reason = "up-to-date-no-policy" }), `reason: "up-to-date-no-policy" is not one of`},
		{"skipped with a sync reason", with(skipped, func(d *SyncSkipped) { d.Reason = "filter-changed" }), `reason: "filter-changed" is not one of`},
		{"failed without reason", with(failed, func(d *SyncFailed) { d.Reason = "" }), "reason: required"},
		{"too many trigger ids", with(skipped, func(d *SyncSkipped) {
			d.TriggerIDs = ids(MaxCoveredIDs + 1)
			d.TriggerCount = MaxCoveredIDs + 1
		}), "triggerIds: 101 ids, at most 100 allowed"},
		{"empty trigger id", with(skipped, func(d *SyncSkipped) { d.TriggerIDs = []string{"a", ""} }), "triggerIds[1]: empty id"},
		{"count below listed ids", with(completed, func(d *SyncCompleted) { d.TriggerCount = 1 }), "triggerCount: 1 is less than the 2 triggerIds listed"},
		{"no start time", with(failed, func(d *SyncFailed) { d.StartedAt = zero }), "startedAt: required"},
		{"completed without hash", with(completed, func(d *SyncCompleted) { d.Hash = "" }), "hash: required"},
		{"completed without snapshot digest", with(completed, func(d *SyncCompleted) { d.SnapshotDigest = "" }), "snapshotDigest: required"},
		{"negative server count", with(completed, func(d *SyncCompleted) { d.ServerCount = -1 }), "serverCount: -1 is negative"},
		{"negative skill count", with(completed, func(d *SyncCompleted) { d.SkillCount = -1 }), "skillCount: -1 is negative"},
		{"negative plugin count", with(completed, func(d *SyncCompleted) { d.PluginCount = -1 }), "pluginCount: -1 is negative"},
		{"negative completed duration", with(completed, func(d *SyncCompleted) { d.DurationMs = -1 }), "durationMs: -1 is negative"},
		{"empty name in diff", with(completed, func(d *SyncCompleted) { d.Diff.Removed = []string{""} }), "diff.removed[0]: empty server name"},
		{"diff count below the names listed", with(completed, func(d *SyncCompleted) { d.Diff.Added = []string{"a/one", "a/two"} }), "diff.addedCount: 1 is less than the 2 names listed"},
		{"negative diff count", with(completed, func(d *SyncCompleted) { d.Diff.UpdatedCount = -1 }), "diff.updatedCount: -1 is negative"},
		{"failed without condition type", with(failed, func(d *SyncFailed) { d.ConditionType = "" }), "conditionType: required"},
		{"failed with unknown condition type", with(failed, func(d *SyncFailed) { d.ConditionType = "Ready" }), `conditionType: "Ready" is not one of`},
		{"failed without condition reason", with(failed, func(d *SyncFailed) { d.ConditionReason = "" }), "conditionReason: required"},
		{"failed without message", with(failed, func(d *SyncFailed) { d.Message = "" }), "message: required"},
		{"negative attempt count", with(failed, func(d *SyncFailed) { d.AttemptCount = -1 }), "attemptCount: -1 is negative"},
		{"failed with zero retry time", with(failed, func(d *SyncFailed) { d.NextRetryTime = &zero }), "nextRetryTime: zero time"},
		{"negative failed duration", with(failed, func(d *SyncFailed) { d.DurationMs = -5 }), "durationMs: -5 is negative"},
		{"registry without name", with(registry, func(d *RegistryChanged) { d.Registry = "" }), "registry: required"},
		{"registry name with a dot", with(registry, func(d *RegistryChanged) { d.Registry = "my.registry" }), `registry: "my.registry" is not a valid registry name`},
		{"registry change without reason", with(registry, func(d *RegistryChanged) { d.Reason = "" }), "reason: required"},
		{"registry change with a sync reason", with(registry, func(d *RegistryChanged) { d.Reason = "source-data-changed" }), `reason: "source-data-changed" is not one of source-changed, registry-config-changed`},
		{"generation zero", with(registry, func(d *RegistryChanged) { d.Generation, d.PreviousGeneration = 0, 0 }), "generation: required, counting from 1"},
		{"previous generation not before", with(registry, func(d *RegistryChanged) { d.PreviousGeneration = 8 }), "previousGeneration: 8 is not less than generation 8"},
		{"too many causes", with(registry, func(d *RegistryChanged) {
			d.Causes = make([]Cause, MaxCauses+1)
			d.CauseCount = MaxCauses + 1
		}), "causes: 101 causes, at most 100 allowed"},
		{"cause count below the causes listed", with(registry, func(d *RegistryChanged) { d.CauseCount = 1 }), "causeCount: 1 is less than the 2 causes listed"},
		{"cause with an invalid source", with(registry, func(d *RegistryChanged) { d.Causes = []Cause{{Source: "Up", ResultID: "r"}} }), `causes[0].source: "Up" is not a valid source name`},
		{"cause without result id", with(registry, func(d *RegistryChanged) { d.Causes = []Cause{{Source: "up"}} }), "causes[0].resultId: required"},
		{"cause with a result id too long", with(registry, func(d *RegistryChanged) {
			d.Causes = []Cause{{Source: "up", ResultID: strings.Repeat("r", MaxIDLen+1)}}
		}), "causes[0].resultId: too long"},
		{"registry without view digest", with(registry, func(d *RegistryChanged) { d.ViewDigest = "" }), "viewDigest: required"},
		{"negative registry server count", with(registry, func(d *RegistryChanged) { d.ServerCount = -1 }), "serverCount: -1 is negative"},
		{"negative registry skill count", with(registry, func(d *RegistryChanged) { d.SkillCount = -2 }), "skillCount: -2 is negative"},
		{"negative registry plugin count", with(registry, func(d *RegistryChanged) { d.PluginCount = -3 }), "pluginCount: -3 is negative"},
		{"empty server name in a registry diff", with(registry, func(d *RegistryChanged) { d.Diff.Updated = []string{"a/one", ""} }), "diff.updated[1]: empty server name"},
		{"source-changed count below the names listed", with(registry, func(d *RegistryChanged) {
			d.Diff.SourceChanged = []string{"a/one", "a/two"}
		}), "diff.sourceChangedCount: 1 is less than the 2 names listed"},
		{"more names than a registry diff lists", with(registry, func(d *RegistryChanged) {
			d.Diff.Added, d.Diff.AddedCount = ids(MaxDiffNames+1), MaxDiffNames+1
		}), "diff.added: 1001 names, at most 1000 allowed"},
		{"empty skill name", with(registry, func(d *RegistryChanged) { d.Diff.Skills = &ViewDiff{SourceChanged: []string{""}} }), "diff.skills.sourceChanged[0]: empty skill name"},
		{"negative plugin count in a diff", with(registry, func(d *RegistryChanged) { d.Diff.Plugins = &ViewDiff{Diff: Diff{RemovedCount: -1}} }), "diff.plugins.removedCount: -1 is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.data.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// with returns a copy of d changed by change.
func with[T any](d T, change func(*T)) T {
	change(&d)
	return d
}

func ids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "t-" + strconv.Itoa(i)
	}
	return out
}

func TestCoverListsIDsUpToTheLimitAndCountsAll(t *testing.T) {
	var c Covered
	for i := range MaxCoveredIDs + 20 {
		c.Cover("t-"+strconv.Itoa(i), uint64(1000+i))
	}
	c.Cover("late-but-lower-seq", 7)
	if got, want := len(c.TriggerIDs), MaxCoveredIDs; got != want {
		t.Errorf("len(TriggerIDs) = %d, want %d", got, want)
	}
	if got, want := c.TriggerCount, MaxCoveredIDs+21; got != want {
		t.Errorf("TriggerCount = %d, want %d", got, want)
	}
	if got, want := c.TriggerSeq, uint64(1000+MaxCoveredIDs+19); got != want {
		t.Errorf("TriggerSeq = %d, want %d", got, want)
	}
	if !slices.Equal(c.TriggerIDs, ids(MaxCoveredIDs)) {
		t.Errorf("TriggerIDs are not the first %d ids in order", MaxCoveredIDs)
	}
	c.StartedAt = testStart
	if err := c.validate(); err != nil {
		t.Errorf("validate() after Cover = %v", err)
	}
}

func TestCovers(t *testing.T) {
	c := Covered{TriggerIDs: []string{"req-1-toolhive"}, TriggerCount: 150, TriggerSeq: 900}
	tests := []struct {
		name string
		id   string
		seq  uint64
		want bool
	}{
		{"listed id", "req-1-toolhive", 0, true},
		{"unlisted id at the covered sequence", "req-2-toolhive", 900, true},
		{"unlisted id below the covered sequence", "req-3-toolhive", 12, true},
		{"unlisted id past the covered sequence", "req-4-toolhive", 901, false},
		{"unlisted id with unknown sequence", "req-5-toolhive", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.Covers(tt.id, tt.seq); got != tt.want {
				t.Errorf("Covers(%q, %d) = %v, want %v", tt.id, tt.seq, got, tt.want)
			}
		})
	}
}

func TestCoverRequest(t *testing.T) {
	var c Covered
	for _, id := range []string{"req-1", "", "req-2", "req-1"} {
		c.CoverRequest(id)
	}
	if want := []string{"req-1", "req-2"}; !slices.Equal(c.RequestIDs, want) {
		t.Errorf("RequestIDs = %q, want %q (each once, no empty id)", c.RequestIDs, want)
	}
	for id, want := range map[string]bool{"req-1": true, "req-2": true, "req-3": false, "": false} {
		if got := c.Answers(id); got != want {
			t.Errorf("Answers(%q) = %v, want %v", id, got, want)
		}
	}
	for i := range MaxCoveredIDs + 5 {
		c.CoverRequest("r-" + strconv.Itoa(i))
	}
	if len(c.RequestIDs) != MaxCoveredIDs {
		t.Errorf("%d request ids listed, want at most %d", len(c.RequestIDs), MaxCoveredIDs)
	}
}

func TestDiffOfListsNamesUpToTheLimitAndCountsAll(t *testing.T) {
	// The first sync of a 100,000-server registry adds every server.
	names := make([]string, 100_000)
	for i := range names {
		names[i] = fmt.Sprintf("io.github.example/server-%06d", i)
	}
	d := DiffOf(names, names[:3], nil)
	if len(d.Added) != MaxDiffNames || !slices.Equal(d.Added, names[:MaxDiffNames]) || !slices.Equal(d.Updated, names[:3]) || d.Removed != nil {
		t.Errorf("lists of %d, %d and %d names, want the first %d, 3 and none", len(d.Added), len(d.Updated), len(d.Removed), MaxDiffNames)
	}
	if added, updated, removed := d.Counts(); added != 100_000 || updated != 3 || removed != 0 {
		t.Errorf("Counts() = %d, %d, %d, want 100000, 3, 0", added, updated, removed)
	}
	completed := fullData()[2].(SyncCompleted)
	completed.Diff = d
	ev, err := New("r-toolhive-1", "urn:test", completed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Encode(ResultSubject("toolhive", OutcomeCompleted), ev); err != nil {
		t.Errorf("the result of the sync does not encode: %v", err)
	}

	t.Run("an event without counts counts its lists", func(t *testing.T) {
		old := Diff{Added: []string{"a/one", "a/two"}, Removed: []string{"a/three"}}
		if added, updated, removed := old.Counts(); added != 2 || updated != 0 || removed != 1 {
			t.Errorf("Counts() = %d, %d, %d, want 2, 0, 1", added, updated, removed)
		}
	})
}

func TestResultOf(t *testing.T) {
	covered := Covered{TriggerIDs: []string{"t-1"}, TriggerCount: 1, TriggerSeq: 7}
	for _, tc := range []struct {
		data       Data
		wantReason string
		wantOK     bool
	}{
		{SyncCompleted{Reason: "source-data-changed", Covered: covered}, "source-data-changed", true},
		{SyncFailed{Reason: "registry-not-ready", Covered: covered}, "registry-not-ready", true},
		{SyncSkipped{Reason: "up-to-date-no-policy", Covered: covered}, "up-to-date-no-policy", true},
		{SyncRequested{Source: "a"}, "", false},
	} {
		c, reason, ok := ResultOf(tc.data)
		if ok != tc.wantOK || reason != tc.wantReason || ok && c.TriggerSeq != covered.TriggerSeq {
			t.Errorf("ResultOf(%T) = %+v, %q, %v", tc.data, c, reason, ok)
		}
	}
}
