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
	deliveries []triggerMsg
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

func newBatch(ds []triggerMsg, started time.Time) batch {
	ds = slices.Clone(ds)
	slices.SortStableFunc(ds, func(a, b triggerMsg) int {
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

// mark is where REGSYNC_TRIGGERS stood when a sync began: the stream's
// creation time (unix nanoseconds) and its last sequence. Every trigger
// at or below it was stored, so its observation made, before the sync
// read the source. The zero mark is before every trigger.
type mark struct {
	streamCreated int64
	seq           uint64
}

// before reports whether d was stored at or before the mark.
func (m mark) before(d triggerMsg) bool {
	return m.seq > 0 && d.streamCreated == m.streamCreated && d.seq <= m.seq
}

// answersAlso reports whether a read of the source made for b answers d
// as well, when d was stored before that read began: d is a trigger that
// asks no more than b does. A manual request does when b is manual too
// (it also has the snapshot checked); a change does when it names no
// revision or b's (a git remote may serve an announced commit only later,
// and the read waited for b's alone). A malformed trigger has its own
// answer.
func (b *batch) answersAlso(d triggerMsg) bool {
	return d.malformed == nil && (d.kind != events.TriggerManual || b.manual) &&
		(d.revision == "" || d.revision == b.revision)
}
