package coordinator

import (
	"slices"
	"time"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/syncer"
)

// batch is what a set of coalesced deliveries asks for, read in stream
// order: a redelivered trigger can arrive after a newer one, but its
// stream sequence still tells which observation is the latest.
type batch struct {
	deliveries []delivery
	covered    events.Covered
	manual     bool
	changed    bool
	// revision is the one named by the newest delivery that names one;
	// onlyRevision is set when every delivery is a change naming it.
	revision, onlyRevision string
	// lastID is the newest delivery's id, lastRequestID the newest manual
	// request's.
	lastID, lastRequestID string
}

func newBatch(ds []delivery, started time.Time) batch {
	ds = slices.Clone(ds)
	slices.SortStableFunc(ds, func(a, b delivery) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	b := batch{deliveries: ds}
	b.covered.StartedAt = started
	same := true
	for i, d := range ds {
		b.covered.Cover(d.id, d.seq)
		b.lastID = d.id
		switch {
		case d.kind == events.TriggerManual:
			b.manual = true
			b.covered.CoverRequest(d.requestID)
			b.lastRequestID = d.requestID
			if b.lastRequestID == "" {
				b.lastRequestID = d.id
			}
		case d.changed:
			b.changed = true
			if d.revision != "" {
				b.revision = d.revision
			}
		case d.kind == events.TriggerStartup:
			// A start or a reload: the source may have changed while
			// nobody watched, so look at its data.
			b.changed = true
		}
		same = same && d.changed && d.revision != "" && d.revision == ds[0].revision
		if i == len(ds)-1 && same {
			b.onlyRevision = d.revision
		}
	}
	return b
}

// trigger is what the batch asks of the Manager.
func (b batch) trigger() syncer.Trigger {
	return syncer.Trigger{Manual: b.manual, Changed: b.changed, Revision: b.revision, OnlyRevision: b.onlyRevision}
}
