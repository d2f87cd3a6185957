package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/events"
)

// answer is a result of s1 stored at stored that covers ids, of count
// triggers in all.
func answer(typ string, stored time.Time, count int, ids ...string) result {
	return result{id: "r-s1-" + stored.Format("150405.000"), typ: typ, source: "s1", stored: stored,
		covered: events.Covered{TriggerIDs: ids, TriggerCount: count, StartedAt: stored.Add(-50 * time.Millisecond)}}
}

func TestAnswersPerChange(t *testing.T) {
	since := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return since.Add(time.Duration(ms) * time.Millisecond) }
	const (
		change = "file-s1-f053bf0e7932-1796680790941198427"
		slot   = "iv-s1-998155"
	)
	completed, skipped := events.TypeSyncCompleted, events.TypeSyncSkipped
	tests := []struct {
		name           string
		results        []result
		answers, slots int
		fails          bool
	}{
		{"a change answered once passes",
			[]result{answer(completed, at(100), 1, change)}, 1, 0, false},
		// The interval safety net fires on its own schedule: a slot that
		// starts after the change's sync read the source is a trigger of
		// its own, answered skipped (up to date) after the change's result.
		{"an interval slot answered after the change's result is not a second answer",
			[]result{answer(completed, at(100), 1, change), answer(skipped, at(150), 1, slot)}, 1, 1, false},
		{"an interval slot answered before the change is not an answer to it",
			[]result{answer(skipped, at(50), 1, slot), answer(completed, at(100), 1, change)}, 1, 1, false},
		{"a result that covers the change and a slot answers the change once",
			[]result{answer(completed, at(100), 2, change, slot)}, 1, 0, false},
		{"a change answered twice fails",
			[]result{answer(completed, at(100), 1, change), answer(skipped, at(150), 1, "file-s1-f053bf0e7932-at1796680790941198427")}, 2, 0, true},
		{"a change answered only by an interval slot is not answered",
			[]result{answer(skipped, at(150), 1, slot)}, 0, 1, true},
		{"a result that covers more triggers than it lists may answer the change",
			[]result{answer(completed, at(100), 1, change), answer(skipped, at(150), 2, slot)}, 2, 0, true},
		{"a slot of another source is not this source's",
			[]result{answer(completed, at(100), 1, change), answer(skipped, at(150), 1, "iv-s10-998155")}, 2, 0, true},
		{"results stored before the change are not counted",
			[]result{answer(completed, at(-100), 1, "st-s1-e-1"), answer(completed, at(100), 1, change)}, 1, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			answers, slots, extra := answersPerChange(tt.results, since, []string{"s1"})
			if answers != tt.answers || slots != tt.slots {
				t.Errorf("%d answers and %d interval results, want %d and %d", answers, slots, tt.answers, tt.slots)
			}
			if failed := len(extra) > 0; failed != tt.fails {
				t.Errorf("complaints %v; want a complaint: %v", extra, tt.fails)
			}
			if tt.fails && !slices.ContainsFunc(extra, func(s string) bool { return strings.HasPrefix(s, "s1: ") }) {
				t.Errorf("complaint %v does not name the source", extra)
			}
		})
	}
}
