package coordinator

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/syncer"
)

// reasonMalformed is the reason of the failed result that answers
// malformed triggers.
const reasonMalformed = events.ReasonMalformedTrigger

// answerMalformed answers the malformed triggers among ds (a requestId
// over events.MaxIDLen, say) with one failed result that names what is
// wrong, and returns the others. Nothing is recorded in the status: the
// source was not looked at. The result's id comes from the triggers, so
// it is the same every time they are answered.
func (c *Coordinator) answerMalformed(ctx context.Context, log *slog.Logger, name string, ds []triggerMsg) []triggerMsg {
	var bad, good []triggerMsg
	for _, d := range ds {
		if d.malformed != nil {
			bad = append(bad, d)
		} else {
			good = append(good, d)
		}
	}
	if len(bad) == 0 {
		return ds
	}
	b := refusalBatch(bad)
	// The result answers these triggers only, not every trigger up to
	// their sequence: it covers them by id.
	b.covered.TriggerSeq = 0
	// Each trigger's problem is named, as many as the message holds.
	var msg strings.Builder
	for i, d := range b.deliveries {
		if i > 0 {
			msg.WriteString("; ")
		}
		fmt.Fprintf(&msg, "malformed trigger %s: %v", d.id, d.malformed)
		if msg.Len() > events.MaxMessageLen {
			break
		}
	}
	c.refuse(ctx, log, name, "m", name, b, refusal(name, b, reasonMalformed, &syncer.Error{
		Message: events.Clip(msg.String(), events.MaxMessageLen), ConditionType: syncer.ConditionSyncSuccessful,
		ConditionReason: syncer.ConditionReasonMalformedTrigger,
	}))
	return good
}
