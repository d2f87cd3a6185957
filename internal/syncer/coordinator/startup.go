package coordinator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/bus"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/syncer"
	"github.com/regsync/regsync/internal/syncer/state"
)

// Startup gives every synced source a status record if it has none, then
// publishes a startup trigger for each source that is not Complete or whose
// interval is due. The trigger id names the status revision it was decided
// on (with the record's epoch), so replicas starting together publish one
// trigger per source, and a bucket created again does not repeat an id.
func Startup(ctx context.Context, pub bus.Publisher, store *state.Store, srcs []config.Source, logger *slog.Logger) (int, error) {
	prod := pub.Producer(events.ProducerStartup, logger)
	var errs []error
	published := 0
	now := time.Now()
	for _, src := range srcs {
		if !src.Synced() {
			continue
		}
		st, rev, err := store.Get(ctx, src.Name)
		if err == nil && (st == nil || st.Epoch == "") {
			// A record is created, or given an epoch, so that the trigger
			// id below never repeats (see state.Status.Version).
			st, err = store.Update(ctx, src.Name, syncer.Initial(src), func(*state.Status, uint64) error { return nil })
			if err == nil {
				_, rev, err = store.Get(ctx, src.Name)
			}
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		due, _, ierr := syncer.IsIntervalSyncNeeded(src.Name, st, now)
		// A recorded result not yet announced also needs a worker.
		if st.Phase == state.PhaseComplete && !due && ierr == nil && st.PendingResult == nil {
			continue
		}
		id := "st-" + src.Name + "-" + st.Version(rev)
		if _, err := prod.Publish(ctx, id, &events.SyncRequested{Source: src.Name, Trigger: events.TriggerStartup, RequestID: id}); err != nil {
			errs = append(errs, fmt.Errorf("startup trigger for %s: %w", src.Name, err))
			continue
		}
		published++
	}
	return published, errors.Join(errs...)
}
