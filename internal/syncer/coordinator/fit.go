package coordinator

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/syncer/state"
	"github.com/regsync/regsync/internal/tracing"
)

// minCut is the shortest a message is cut to while a result is made to fit.
const minCut = 256

// seal builds the result event with the given id for data, keeps it in
// s.PendingResult and makes both fit where they go: the event within
// events.MaxEventSize in the configured content mode, the status record
// within what the status bucket takes. A record over its limit first
// leaves out what it can spare (l.spare). While either does not fit, the
// lists of the result (trigger and request ids, diff names) are halved and
// the messages of the result and the record cut, so that an outcome is
// never left unrecordable or unpublishable by what it says. It returns
// the record's JSON encoding, made to check its size, for the write, and
// reports whether anything was cut; an error means the result cannot be
// made to fit, s holds no pending result and no encoding is returned.
func (l *ledger[R]) seal(ctx context.Context, s R, id string, data events.Data) (event.Event, []byte, bool, error) {
	for cuts := 0; ; cuts++ {
		ev, err := events.New(id, l.source, data)
		if err != nil {
			*l.pending(s) = nil
			return event.Event{}, nil, false, fmt.Errorf("result event does not validate: %w", err)
		}
		// The result carries the sync's trace from the start, so that
		// publishing it again does not change it.
		tracing.InjectEvent(ctx, &ev)
		if *l.pending(s), err = ev.MarshalJSON(); err != nil {
			*l.pending(s) = nil
			return event.Event{}, nil, false, fmt.Errorf("encode result event: %w", err)
		}
		encoded, problem := l.oversize(s, ev)
		if problem == nil {
			return ev, encoded, cuts > 0, nil
		}
		if l.spare != nil && publishable(l.mode, ev) == nil && l.spare(s) {
			continue // the record alone is over: first without what it can spare
		}
		var cutData, cutStatus bool
		data, cutData = shrinkResult(data)
		cutStatus = l.shrink(s)
		if !cutData && !cutStatus {
			*l.pending(s) = nil
			return event.Event{}, nil, true, fmt.Errorf("result %s does not fit with nothing left to cut: %w", id, problem)
		}
	}
}

// oversize says why a result event or the status record that holds it
// cannot be stored, or nil when both can; then it returns the record's
// encoding, for the write.
func (l *ledger[R]) oversize(s R, ev event.Event) ([]byte, error) {
	if err := publishable(l.mode, ev); err != nil {
		return nil, err
	}
	rec, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode status record: %w", err)
	}
	if len(rec) > l.recordLimit {
		return nil, fmt.Errorf("status record is %d bytes, more than the %d the status bucket takes", len(rec), l.recordLimit)
	}
	return rec, nil
}

// publishable reports why a result event cannot be published, or nil.
func publishable(mode events.ContentMode, ev event.Event) error {
	_, err := mode.Encode(events.ResultSubject(ev.Subject(), events.OutcomeOf(ev.Type())), ev)
	return err
}

// shrinkResult halves the lists of a result and cuts its message in
// half; it reports false when there was nothing left to cut. Counts stay:
// they still tell how many triggers and names there are in all.
func shrinkResult(d events.Data) (events.Data, bool) {
	switch r := d.(type) {
	case events.SyncCompleted:
		r.Diff.AddedCount, r.Diff.UpdatedCount, r.Diff.RemovedCount = r.Diff.Counts()
		cut := shrinkCovered(&r.Covered)
		for _, list := range []*[]string{&r.Diff.Added, &r.Diff.Updated, &r.Diff.Removed} {
			cut = halve(list) || cut
		}
		return r, cut
	case events.SyncFailed:
		cut := shrinkCovered(&r.Covered)
		return r, cutMessage(&r.Message) || cut
	case events.SyncSkipped:
		return r, shrinkCovered(&r.Covered)
	}
	return d, false
}

func shrinkCovered(c *events.Covered) bool {
	ids, requests := halve(&c.TriggerIDs), halve(&c.RequestIDs)
	return ids || requests
}

// halve keeps the first half of a list; false when it was empty.
func halve(list *[]string) bool {
	if len(*list) == 0 {
		return false
	}
	*list = (*list)[:len(*list)/2]
	if len(*list) == 0 {
		*list = nil
	}
	return true
}

// cutMessage cuts a message to half its length, never below minCut
// bytes; false when it is that short already.
func cutMessage(m *string) bool {
	if len(*m) <= minCut {
		return false
	}
	*m = events.Clip(*m, max(len(*m)/2, minCut))
	return true
}

// shrinkStatus cuts the messages of a status record; false when they are
// short already.
func shrinkStatus(s *state.Status) bool {
	cut := cutMessage(&s.Message)
	for i := range s.Conditions {
		cut = cutMessage(&s.Conditions[i].Message) || cut
	}
	return cut
}
