package main

import (
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/regsync/regsync/events"
)

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"10.0.0", "2.0.0", 1},          // semantic, not string, order
		{"v1.2.3", "1.2.4", -1},         // an optional v
		{"1.0.0-rc.1", "1.0.0", -1},     // a pre-release comes first
		{"build-9", "build-10", 1},      // not semantic versions: string order
		{"1.2", "1.10", 1},              // two numbers are not a semantic version
		{"1.0.0", "1.0.0", 0},           // equal
		{"1.0.0+b2", "1.0.0+b1", 1},     // equal as semantic versions: string order
		{"build-s1", "build-123", 1},    // string order
		{"10.48.0", "2.1234.0", 1},      // the shared-semver pair of the suite
		{"10.48.0", "2.1234.0-rc.1", 1}, // with a pre-release
	}
	for _, tt := range tests {
		if got := compareVersions(tt.a, tt.b); got != tt.want {
			t.Errorf("compareVersions(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

// k is the minor version of source's shared-semver 10.<k>.0.
func k(source string) int { return int(crc32.ChecksumIEEE([]byte(source)) % 90) }

func TestModelMerge(t *testing.T) {
	// s1 in an even revision has no shared-odd; s2 in an odd one has.
	snaps := map[string][]byte{"s1": validRegistry("s1", 8, 2), "s2": validRegistry("s2", 9, 2)}
	tests := []struct {
		order  []string
		winner map[string]string
		latest map[string]string
	}{
		{[]string{"s1", "s2"},
			map[string]string{"shared-semver": "s1", "shared-string": "s1", "shared-odd": "s2", "s1-0": "s1", "s2-1": "s2"},
			map[string]string{"shared-semver": fmt.Sprintf("10.%d.0", k("s1")), "shared-string": "build-s1", "shared-odd": "1.0.9"}},
		{[]string{"s2", "s1"},
			map[string]string{"shared-semver": "s2", "shared-string": "s2", "shared-odd": "s2", "s1-0": "s1"},
			map[string]string{"shared-semver": fmt.Sprintf("10.%d.0", k("s2")), "shared-string": "build-s2", "s1-1": "1.0.8"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.order, ","), func(t *testing.T) {
			v, err := modelMerge(tt.order, snaps)
			if err != nil {
				t.Fatal(err)
			}
			for name, source := range tt.winner {
				if got := v.winner["server io.github.chaos/"+name]; got != source {
					t.Errorf("%s won by %q, want %q", name, got, source)
				}
			}
			for name, version := range tt.latest {
				if got := v.latest["server io.github.chaos/"+name]; got != version {
					t.Errorf("latest of %s is %q, want %q", name, got, version)
				}
			}
			// 2 own servers each, shared-semver and shared-string with 2
			// versions, shared-odd with 1.
			if len(v.entries) != 4+2+2+1 {
				t.Errorf("%d entries, want 9: %v", len(v.entries), v.entries)
			}
		})
	}
	t.Run("a source without a snapshot", func(t *testing.T) {
		if _, err := modelMerge([]string{"s1", "s3"}, snaps); err == nil || !strings.Contains(err.Error(), "s3 has no snapshot") {
			t.Errorf("error %v, want one naming s3", err)
		}
	})
}

// mergedByHand is the registry ab = [s1, s2] of cleanRegistries, written
// out: every server of s1, and the servers of s2 whose names s1 lacks.
func mergedByHand(t *testing.T, s1, s2 []byte) []byte {
	t.Helper()
	var docs [2]struct {
		Data struct {
			Servers []map[string]any `json:"servers"`
		} `json:"data"`
	}
	for i, b := range [][]byte{s1, s2} {
		if err := json.Unmarshal(b, &docs[i]); err != nil {
			t.Fatal(err)
		}
	}
	servers := docs[0].Data.Servers
	for _, s := range docs[1].Data.Servers {
		if !slices.ContainsFunc(docs[0].Data.Servers, func(o map[string]any) bool { return o["name"] == s["name"] }) {
			servers = append(servers, s)
		}
	}
	b, err := json.Marshal(map[string]any{"version": "1.0.0", "data": map[string]any{"servers": servers}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cleanRegistries is the evidence of a registry ab = [s1, s2] stored in
// two generations, each caused by one sync.
func cleanRegistries(t *testing.T) evidence {
	t.Helper()
	s1, s2 := validRegistry("s1", 8, 2), validRegistry("s2", 9, 2)
	latest := map[string]string{"io.github.chaos/shared-semver": fmt.Sprintf("10.%d.0", k("s1")),
		"io.github.chaos/shared-string": "build-s1", "io.github.chaos/shared-odd": "1.0.9"}
	for _, own := range []string{"s1-0", "s1-1"} {
		latest["io.github.chaos/"+own] = "1.0.8"
	}
	for _, own := range []string{"s2-0", "s2-1"} {
		latest["io.github.chaos/"+own] = "1.0.9"
	}
	meta := map[string]string{events.MetaGeneration: "2", events.MetaViewDigest: "v2",
		events.MetaServerCount: "7", events.MetaSkillCount: "0", events.MetaPluginCount: "0"}
	status := &events.RegistryStatus{Generation: 2, ViewDigest: "v2", ServerCount: 7}
	gen := func(g uint64, digest, cause, source string) change {
		return change{id: fmt.Sprintf("g-ab-e-%d", g), data: events.RegistryChanged{Registry: "ab", Generation: g,
			PreviousGeneration: g - 1, ViewDigest: digest, CauseCount: 1,
			Causes: []events.Cause{{Source: source, ResultID: cause}},
			Diff:   events.RegistryDiff{ViewDiff: events.ViewDiffOf([]string{"io.github.chaos/" + source + "-0"}, nil, nil, nil)}}}
	}
	completed := func(id, source, hash string) result {
		return result{id: id, typ: events.TypeSyncCompleted, source: source,
			completed: &events.SyncCompleted{Source: source, Hash: hash}}
	}
	return evidence{
		finals:  map[string]final{"s1": {snapshot: s1}, "s2": {snapshot: s2}},
		results: []result{completed("r-s1-1", "s1", "h1"), completed("r-s2-1", "s2", "h2")},
		changes: []change{gen(1, "v1", "r-s1-1", "s1"), gen(2, "v2", "r-s2-1", "s2")},
		registries: []registryEvidence{{def: registryDef{"ab", []string{"s1", "s2"}},
			final: registryFinal{status: status, object: mergedByHand(t, s1, s2), meta: meta,
				latest: map[string]map[string]string{"r1": latest}}}},
	}
}

func TestRegistryChecks(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(ev *evidence)
		fails []string // the checks that must fail
	}{
		{"a clean run passes every check", func(*evidence) {}, nil},
		{"a name taken from a later source", func(ev *evidence) {
			f := &ev.registries[0].final
			f.object = mergedByHand(t, ev.finals["s2"].snapshot, ev.finals["s1"].snapshot)
		}, []string{"registry objects other than the model merge"}},
		{"an entry left out", func(ev *evidence) {
			f := &ev.registries[0].final
			f.object = mergedByHand(t, ev.finals["s1"].snapshot, validRegistry("s2", 9, 1))
		}, []string{"registry objects other than the model merge"}},
		{"a replica serving another latest version", func(ev *evidence) {
			ev.registries[0].final.latest["r1"]["io.github.chaos/shared-semver"] = "2.8.0"
		}, []string{"isLatest served by the replicas"}},
		{"a replica serving two latest versions", func(ev *evidence) {
			ev.registries[0].final.latest["r1"]["io.github.chaos/shared-semver"] += ",2.8.0"
		}, []string{"isLatest served by the replicas"}},
		{"a status record on an older generation than the object", func(ev *evidence) {
			ev.registries[0].final.status.Generation = 1
		}, []string{"registry status records other than their stored object's metadata"}},
		{"a status record with another view digest", func(ev *evidence) {
			ev.registries[0].final.status.ViewDigest = "v1"
		}, []string{"registry status records other than their stored object's metadata"}},
		{"a generation never announced", func(ev *evidence) {
			ev.changes = ev.changes[1:]
		}, []string{"registry generations:", "registry causes"}},
		{"a generation announced that was not stored", func(ev *evidence) {
			ev.registries[0].final.meta[events.MetaGeneration] = "1"
			ev.registries[0].final.status.Generation = 1
		}, []string{"registry generations:"}},
		{"a generation stored twice with one content", func(ev *evidence) {
			dup := ev.changes[1]
			dup.id = "g-ab-other-2"
			ev.changes = append(ev.changes, dup)
		}, []string{"registry generations:"}},
		{"a generation stored twice with different contents", func(ev *evidence) {
			dup := ev.changes[1]
			dup.data.ViewDigest = "v3"
			ev.changes = append(ev.changes, dup)
		}, []string{"registry generations:", "registry generations announced with different contents"}},
		{"a generation with the view of the one before", func(ev *evidence) {
			ev.changes[1].data.ViewDigest = "v1"
			ev.registries[0].final.meta[events.MetaViewDigest] = "v1"
			ev.registries[0].final.status.ViewDigest = "v1"
		}, []string{"registry generations:"}},
		{"a source change announced in two generations", func(ev *evidence) {
			ev.changes[1].data.Diff.Updated = []string{"io.github.chaos/s1-1"}
		}, []string{"source changes announced in more than one generation"}},
		{"a generation seen on the wire with two contents", func(ev *evidence) {
			ev.genConflicts = []string{"ab generation 2: first v2, then v3"}
		}, []string{"registry generations announced with different contents"}},
		{"a result that causes two generations", func(ev *evidence) {
			ev.changes[1].data.Causes = append(ev.changes[1].data.Causes, ev.changes[0].data.Causes...)
			ev.changes[1].data.CauseCount = 2
		}, []string{"registry causes"}},
		{"a change that altered the registry and causes nothing", func(ev *evidence) {
			ev.changes[1].data.Causes = nil
			ev.changes[1].data.CauseCount = 0
		}, []string{"registry causes"}},
		{"a cause that is no stored result", func(ev *evidence) {
			ev.changes[1].data.Causes = append(ev.changes[1].data.Causes, events.Cause{Source: "s1", ResultID: "r-s1-9"})
			ev.changes[1].data.CauseCount = 2
		}, []string{"registry causes"}},
		{"events without causes are related by generations alone", func(ev *evidence) {
			for i := range ev.changes {
				ev.changes[i].data.Causes, ev.changes[i].data.CauseCount = nil, 0
			}
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := cleanRegistries(t)
			tt.spoil(&ev)
			r := &report{out: io.Discard}
			checkRegistries(r, ev)
			if len(r.failures) != len(tt.fails) {
				t.Fatalf("failed checks: %q, want %q", r.failures, tt.fails)
			}
			for i, want := range tt.fails {
				if !strings.HasPrefix(r.failures[i], want) {
					t.Errorf("failed check %q, want %q", r.failures[i], want)
				}
			}
		})
	}
}
