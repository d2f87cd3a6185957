package main

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/registry"
)

func TestRegistryContent(t *testing.T) {
	valid := validRegistry("s1", 7, 3)
	if _, err := registry.Parse(valid); err != nil {
		t.Fatalf("the valid registry is refused: %v", err)
	}
	if string(valid) == string(validRegistry("s1", 8, 3)) {
		t.Error("two writes have the same content, so a hash would not name one write")
	}
	for seq, kind := range []string{"cut in half", "a server without a description", "no servers"} {
		t.Run("refused: "+kind, func(t *testing.T) {
			if _, err := registry.Parse(invalidRegistry("s1", seq, 3)); err == nil {
				t.Error("regsync accepts it")
			}
		})
	}
}

// cleanRun is the evidence of a run where two valid writes were each
// synced, announced and kept.
func cleanRun(t *testing.T) evidence {
	t.Helper()
	files, err := newRegistries(t.TempDir(), []string{"s1"}, 2000)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := files.write("s1", false); err != nil {
		t.Fatal(err)
	}
	if _, err := files.write("s1", true); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ws := files.all()["s1"]
	for i := range ws {
		ws[i].at = t0.Add(time.Duration(i) * time.Second)
	}
	last, _ := files.lastValid("s1")
	ev := evidence{
		sources: []string{"s1"},
		writes:  map[string][]write{"s1": ws},
		last:    map[string][]byte{"s1": last},
		results: []result{
			completedAt("r-s1-1", ws[0], t0.Add(100*time.Millisecond), t0.Add(300*time.Millisecond)),
			completedAt("r-s1-3", ws[2], t0.Add(2100*time.Millisecond), t0.Add(2300*time.Millisecond)),
		},
		statusHashes: map[string]map[string]bool{"s1": {ws[0].hash: true, ws[2].hash: true}},
		digests:      map[string]map[string]bool{"s1": {ws[0].digest: true, ws[2].digest: true}},
		finals:       map[string]final{"s1": {status: statusRecord{LastSyncHash: ws[2].hash}, snapshot: last}},
		requests:     []*request{{source: "s1", id: "q1-s1", accepted: true, outcome: events.TypeSyncCompleted}},
		end:          t0.Add(10 * time.Second),
		maxWait:      20 * time.Second,
	}
	return ev
}

// completedAt is a completed result of write w that started at started,
// ran 100 ms and was stored at stored.
func completedAt(id string, w write, started, stored time.Time) result {
	c := &events.SyncCompleted{Source: "s1", Hash: w.hash, SnapshotDigest: w.digest, DurationMs: 100,
		Covered: events.Covered{StartedAt: started, TriggerIDs: []string{"t-" + id}, TriggerCount: 1}}
	return result{id: id, typ: events.TypeSyncCompleted, source: "s1", stored: stored, content: id + w.hash,
		covered: c.Covered, completed: c}
}

func TestChecks(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(ev *evidence)
		fails string // the one check that must fail; "" for none
	}{
		{"a clean run passes every check", func(*evidence) {}, ""},
		{"a status left on an older write is a lost change", func(ev *evidence) {
			f := ev.finals["s1"]
			f.status.LastSyncHash = ev.writes["s1"][0].hash
			ev.finals["s1"] = f
		}, "lost changes"},
		{"a snapshot other than the last write is a lost change", func(ev *evidence) {
			f := ev.finals["s1"]
			f.snapshot = []byte("{}")
			ev.finals["s1"] = f
		}, "lost changes"},
		{"a snapshot of invalid data is reported", func(ev *evidence) {
			ev.digests["s1"][ev.writes["s1"][1].digest] = true
		}, "invalid data"},
		{"two syncs of one source that overlap", func(ev *evidence) {
			r := ev.results[1]
			r.covered.StartedAt = ev.results[0].covered.StartedAt.Add(50 * time.Millisecond)
			r.completed.Covered = r.covered
			ev.results[1] = r
		}, "overlapping syncs"},
		{"a hash the status held that no completed result announces", func(ev *evidence) {
			ev.results = ev.results[1:]
			ev.writes["s1"][0].valid = true
		}, "unannounced syncs"},
		{"a result id stored twice with different contents", func(ev *evidence) {
			dup := ev.results[1]
			dup.content = "other"
			ev.results = append(ev.results, dup)
		}, "result ids published with different contents"},
		{"a result id seen on the wire with different contents", func(ev *evidence) {
			ev.conflicts = []string{"r-s1-3: first completed, then skipped"}
		}, "result ids published with different contents"},
		{"an accepted request nobody answered", func(ev *evidence) {
			ev.requests = append(ev.requests, &request{source: "s1", id: "q2-s1", accepted: true, complaint: "timed out"})
		}, "unanswered manual requests"},
		{"a write that waited past the target", func(ev *evidence) {
			ev.results[1].stored = ev.writes["s1"][2].at.Add(25 * time.Second)
			ev.end = ev.results[1].stored
		}, "writes waiting more than 20s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := cleanRun(t)
			tt.spoil(&ev)
			r := &report{out: io.Discard}
			analyze(r, ev)
			if tt.fails == "" {
				if len(r.failures) > 0 {
					t.Fatalf("failed checks: %q", r.failures)
				}
				return
			}
			if len(r.failures) != 1 || !strings.HasPrefix(r.failures[0], tt.fails) {
				t.Fatalf("failed checks: %q, want only %q", r.failures, tt.fails)
			}
		})
	}
}
