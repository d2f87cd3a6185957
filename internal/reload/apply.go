package reload

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"time"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/bus"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/syncer"
	"github.com/regsync/regsync/internal/syncer/state"
)

// Follower is a part of the service whose work follows the synced
// sources: the coordinator, the interval schedule, the watchers and the
// status metrics.
type Follower interface {
	SetSources(srcs []config.Source)
}

// WebhookFollower is the webhook receiver: it follows the sources and the
// webhook secrets.
type WebhookFollower interface {
	SetSources(srcs []config.Source, hooks config.Webhooks)
}

// RegistryFollower is what serves the registries (the read API and its
// views): it follows the registries section.
type RegistryFollower interface {
	SetRegistries(ctx context.Context, registries []config.Registry) error
}

// Applier puts an accepted configuration into effect, the one place that
// knows what a reload changes: the followers get the new sources, the
// registry follower the registries (config.EffectiveRegistries), added
// and changed sources get a reload trigger (so a new filter or path is
// synced with the reason it calls for), and removed sources are marked so
// in their status. Their snapshots stay.
type Applier struct {
	Followers []Follower
	Webhooks  WebhookFollower // nil when there is no receiver
	// Registries is nil when nothing serves the registries.
	Registries RegistryFollower
	Publisher  bus.Publisher
	Status     *state.Store
	Logger     *slog.Logger
}

// Apply is the Reloader's Apply.
func (a *Applier) Apply(ctx context.Context, old, next *config.Config) error {
	srcs := next.SyncedSources()
	for _, f := range a.Followers {
		f.SetSources(srcs)
	}
	if a.Webhooks != nil {
		a.Webhooks.SetSources(srcs, next.Webhooks)
	}
	ch := Diff(old.Sources, next.Sources)
	for _, s := range ch.Added {
		a.Logger.Info("source added", "source", s.Name)
	}
	for _, s := range ch.Changed {
		a.Logger.Info("source changed", "source", s.Name)
	}
	for _, s := range ch.Removed {
		a.Logger.Info("source removed: no longer synced, snapshot kept", "source", s.Name)
	}
	var errs []error
	if a.Registries != nil {
		if err := a.Registries.SetRegistries(ctx, next.EffectiveRegistries()); err != nil {
			errs = append(errs, fmt.Errorf("apply registries: %w", err))
		}
	}
	return errors.Join(append(errs, a.publish(ctx, ch))...)
}

// publish makes the changes take effect in NATS.
func (a *Applier) publish(ctx context.Context, ch Changes) error {
	var errs []error
	now := time.Now().UTC()
	prod := a.Publisher.Producer(events.ProducerReload, a.Logger)
	// The trigger kind is startup, not a kind of its own: the v1 schema
	// and events.SyncRequested.Validate admit manual, interval and startup
	// only, so a replica or consumer that predates a new kind would take
	// such a trigger for a malformed one (the coordinator answers it
	// failed). The event's source (producer reload) and its rl- id say
	// that a reload asked.
	for _, src := range append(append([]config.Source{}, ch.Added...), ch.Changed...) {
		id := a.triggerID(ctx, src, now)
		if _, err := prod.Publish(ctx, id, &events.SyncRequested{Source: src.Name, Trigger: events.TriggerStartup, RequestID: id}); err != nil {
			errs = append(errs, fmt.Errorf("reload trigger for %s: %w", src.Name, err))
		}
	}
	for _, src := range ch.Removed {
		_, err := a.Status.Update(ctx, src.Name, syncer.Initial(src), func(s *state.Status, _ uint64) error {
			syncer.RecordRemoved(s, now)
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("mark %s removed: %w", src.Name, err))
		}
	}
	return errors.Join(errs...)
}

// triggerID names the reload of src alike on every replica that applies
// it, so that their triggers collapse into one:
// rl-<source>-<first 12 hex of the source's configuration digest>-<status
// version>, the status version being the one of the record the change
// follows (every outcome writes the record, so a configuration that comes
// back after an answer gets a new id). When the status cannot be read the
// id is this replica's own: nothing is lost, and each replica triggers.
func (a *Applier) triggerID(ctx context.Context, src config.Source, now time.Time) string {
	digest := "unknown"
	if b, err := json.Marshal(src); err == nil {
		sum := sha256.Sum256(b)
		digest = hex.EncodeToString(sum[:6])
	}
	st, rev, err := a.Status.Get(ctx, src.Name)
	switch {
	case err != nil:
		a.Logger.Warn("status not read, the reload trigger is named for this replica only", "source", src.Name, "err", err)
		return fmt.Sprintf("rl-%s-%s-at%d", src.Name, digest, now.UnixNano())
	case st == nil:
		return fmt.Sprintf("rl-%s-%s-0", src.Name, digest)
	}
	return fmt.Sprintf("rl-%s-%s-%s", src.Name, digest, st.Version(rev))
}

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
