package coordinator

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/syncer/state"
	"github.com/regsync/regsync/internal/testsupport"
)

// A result that cannot be published while the coordinator stops stays
// pending in the status for the next holder of the lease: announce does
// not pause for another try once its context is done.
func TestAnnounceStopsRetryingWhenItsContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	c := &Coordinator{callTimeout: time.Minute, ledger: &ledger[*state.Status]{callTimeout: time.Minute, publish: func(context.Context, string, event.Event) error {
		calls++
		cancel()
		return errors.New("nats: no responders available for request")
	}}}
	ev, err := events.New("r-local-1", "/test", &events.SyncSkipped{Source: "local", Reason: "up-to-date-no-policy", Covered: events.Covered{StartedAt: time.Now()}})
	if err != nil {
		t.Fatal(err)
	}
	err = c.announce(ctx, testsupport.Logger(t), "local", ev, nil)
	if calls != 1 || !errors.Is(err, context.Canceled) {
		t.Errorf("%d publishes, err %v; want one publish and the cancellation", calls, err)
	}
}
