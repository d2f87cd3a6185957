package coordinator

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/regsync/regsync/internal/testsupport"
)

// A registry whose write failed is looked at again after a pause that
// grows with its failures in a row and starts over after a write; one
// whose lease another replica holds is looked at again after the lease's
// poll pause, neither counted nor forgiven as a failure. One whose record
// another holder wrote during the merge is merged again at once.
func TestMergerRetriesAfterGrowingPauses(t *testing.T) {
	c := newFakeClock()
	m := &Merger{log: testsupport.Logger(t), clock: c, heldWait: 5 * time.Second, dirty: map[string]bool{}, waiting: map[string]mergeWait{}}
	failed := errors.New("nats: timeout")
	held := &HeldError{Holder: "other", Until: c.current().Add(time.Minute)}
	moved := fmt.Errorf("registry r: %w", errRecordMoved)

	// look marks the registry dirty as a change does, and returns after
	// how long from now it is due.
	look := func() time.Duration {
		t.Helper()
		m.dirty["r"] = true
		now := c.current()
		if due := m.due(now); len(due) == 1 {
			return 0
		}
		d, ok := m.nextDue(now)
		if !ok {
			t.Fatal("a dirty registry is never due")
		}
		return d
	}
	var pauses []time.Duration
	for _, err := range []error{failed, failed, held, failed, nil, failed, moved, failed} {
		if d := look(); d > 0 {
			c.advance(d)
			if due := m.due(c.current()); !slices.Equal(due, []string{"r"}) {
				t.Fatalf("due after its pause: %v", due)
			}
		}
		m.merged("r", err, c.current())
		if d, ok := m.nextDue(c.current()); ok {
			pauses = append(pauses, d)
		} else {
			pauses = append(pauses, 0)
		}
	}
	s := time.Second
	if want := []time.Duration{s, 2 * s, 5 * s, 4 * s, 0, s, 0, s}; !slices.Equal(pauses, want) {
		t.Errorf("pauses after failed, failed, held, failed, written, failed, moved, failed: %v, want %v", pauses, want)
	}
}
