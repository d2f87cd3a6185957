package syncer

import (
	"testing"
	"time"
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
