package coordinator

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/bus"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/syncer"
	"github.com/regsync/regsync/internal/syncer/state"
)

// Changes is what a new configuration changes among the synced sources.
type Changes struct {
	Added, Changed, Removed []config.Source
}

// Empty reports whether nothing changed.
func (c Changes) Empty() bool {
	return len(c.Added)+len(c.Changed)+len(c.Removed) == 0
}

// Diff compares the synced sources of two configurations by name.
func Diff(old, new []config.Source) Changes {
	before := map[string]config.Source{}
	for _, s := range old {
		if s.Synced() {
			before[s.Name] = s
		}
	}
	var ch Changes
	for _, s := range new {
		if !s.Synced() {
			continue
		}
		prev, ok := before[s.Name]
		switch {
		case !ok:
			ch.Added = append(ch.Added, s)
		case !reflect.DeepEqual(prev, s):
			ch.Changed = append(ch.Changed, s)
		}
		delete(before, s.Name)
	}
	for _, s := range old {
		if _, gone := before[s.Name]; gone {
			ch.Removed = append(ch.Removed, s)
		}
	}
	return ch
}

// ApplyReload makes a reload take effect in NATS: added and changed
// sources get a startup trigger, so a new filter or path is synced with
// the reason it calls for, and removed sources have their status marked.
// Their snapshots stay.
func ApplyReload(ctx context.Context, pub bus.Publisher, store *state.Store, ch Changes) error {
	var errs []error
	now := time.Now().UTC()
	for _, src := range append(append([]config.Source{}, ch.Added...), ch.Changed...) {
		id := fmt.Sprintf("rl-%s-%d", src.Name, now.UnixNano())
		ev, err := events.New(id, pub.Source(events.ProducerReload), &events.SyncRequested{Source: src.Name, Trigger: events.TriggerStartup, RequestID: id})
		if err == nil {
			err = pub.Publish(ctx, events.TriggerSubject(src.Name), ev)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("reload trigger for %s: %w", src.Name, err))
		}
	}
	for _, src := range ch.Removed {
		_, err := store.Update(ctx, src.Name, func() *state.Status { return state.Initial(syncer.ScheduleOf(src)) }, func(s *state.Status, _ uint64) {
			syncer.RecordRemoved(s, now)
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("mark %s removed: %w", src.Name, err))
		}
	}
	return errors.Join(errs...)
}
