package syncer

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/registry"
	"github.com/regsync/regsync/internal/syncer/state"
	"github.com/regsync/regsync/internal/syncer/writer"
)

func TestSlot(t *testing.T) {
	k1, at1 := Slot("alpha", time.Hour, now)
	k2, at2 := Slot("alpha", time.Hour, at1)
	if !at1.After(now) || at1.Sub(now) > time.Hour || k2 != k1+1 || at2.Sub(at1) != time.Hour {
		t.Errorf("slots %d@%v %d@%v after %v", k1, at1, k2, at2, now)
	}
	if k, at := Slot("alpha", time.Hour, now); k != k1 || !at.Equal(at1) {
		t.Error("slots are not deterministic")
	}
	offsets := map[time.Duration]bool{}
	for _, name := range []string{"a", "b", "c", "d", "e", "f"} {
		_, at := Slot(name, time.Hour, now)
		offsets[at.Sub(now)] = true
	}
	if len(offsets) < 5 {
		t.Errorf("sources fire together: %d distinct offsets of 6", len(offsets))
	}
	if _, at := Slot("x", 0, now); !at.IsZero() {
		t.Error("no interval must give no slot")
	}
}

// An interval trigger for the slot that nextSyncTime names must look at
// the source, however soon after the last sync that slot starts.
func TestIntervalTriggerForTheNamedSlotReadsTheSource(t *testing.T) {
	src := config.Source{Name: "src", File: &config.File{Path: "x.json"}, SyncPolicy: &config.SyncPolicy{Interval: config.Duration(30 * time.Minute)}}
	hash := registry.Hash([]byte(validRegistry))
	for _, before := range []time.Duration{time.Second, 10 * time.Minute, 29 * time.Minute} {
		t.Run(before.String()+" after the sync", func(t *testing.T) {
			_, slot := Slot(src.Name, src.Interval(), now)
			synced := slot.Add(-before)
			st := &state.Status{Phase: state.PhaseComplete, LastSyncHash: hash, Revision: hash, SyncSchedule: "30m0s",
				LastAttempt: &synced, LastSyncTime: &synced, NextSyncTime: &slot}
			snaps := &memSnapshots{data: map[string][]byte{"src": []byte("{}")}}
			snaps.setMeta("src", writer.Meta{LastSyncHash: hash})
			f := &fakeFetcher{raw: strings.Replace(validRegistry, `"first"`, `"first, edited"`, 1)}
			m := newTestManager(f, snaps)
			m.now = func() time.Time { return slot.Add(time.Second) }
			d := m.ShouldSync(context.Background(), src, st, Trigger{})
			if f.fetches != 1 || d.Reason != ReasonSourceDataChanged {
				t.Errorf("interval trigger of the slot nextSyncTime named: %d fetches, reason %s; want the source read and synced", f.fetches, d.Reason)
			}
		})
	}
}

func TestIsIntervalSyncNeededFollowsTheSlots(t *testing.T) {
	_, slot := Slot("src", time.Hour, now)
	previous := slot.Add(-time.Hour)
	cases := []struct {
		name string
		st   *state.Status
		at   time.Time
		due  bool
	}{
		{"no schedule", &state.Status{}, now, false},
		{"never attempted", &state.Status{SyncSchedule: "1h"}, now, true},
		{"attempted before the slot that started", &state.Status{SyncSchedule: "1h", LastAttempt: ptr(previous.Add(-time.Second))}, now, true},
		{"attempted after the slot that started", &state.Status{SyncSchedule: "1h", LastAttempt: ptr(previous.Add(time.Second))}, now, false},
		{"failed in the decision after the slot", &state.Status{SyncSchedule: "1h", LastAttempt: ptr(previous.Add(-time.Minute)), LastSyncTime: ptr(previous.Add(time.Second))}, now, false},
		{"at the next slot", &state.Status{SyncSchedule: "1h", LastAttempt: ptr(previous.Add(time.Second))}, slot, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			due, next, err := IsIntervalSyncNeeded("src", tc.st, tc.at)
			if err != nil || due != tc.due {
				t.Errorf("due %v (err %v), want %v", due, err, tc.due)
			}
			if _, want := Slot("src", time.Hour, tc.at); tc.st.SyncSchedule != "" && !next.Equal(want) {
				t.Errorf("next %v, want the next slot %v", next, want)
			}
		})
	}
}

func TestIsIntervalSyncNeededRejectsBadSchedules(t *testing.T) {
	for _, schedule := range []string{"invalid-duration", "-1h", "0s"} {
		if due, _, err := IsIntervalSyncNeeded("src", &state.Status{SyncSchedule: schedule}, now); err == nil || due {
			t.Errorf("schedule %q: due %v, err %v; want an error", schedule, due, err)
		}
	}
	if due, _, err := IsIntervalSyncNeeded("src", nil, now); due || err != nil {
		t.Errorf("nil status: due %v, err %v", due, err)
	}
}

func ptr(t time.Time) *time.Time { return &t }
