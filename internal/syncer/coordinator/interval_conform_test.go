package coordinator

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/bus"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/retry"
	"github.com/regsync/regsync/internal/syncer"
	"github.com/regsync/regsync/internal/testsupport"
	"github.com/regsync/regsync/internal/watch/watchtest"
)

// The interval fallback passes the producer conformance suite on a clock
// of the test's: its change is the start of a new interval slot.
func TestIntervalConforms(t *testing.T) {
	watchtest.TestProducer(t, func(t *testing.T) watchtest.Harness {
		return newIntervalConformance(t)
	})
}

// storedEvents is a bus.Sender that stores every event at once.
type storedEvents struct {
	mu     sync.Mutex
	events []event.Event
	// onPublish, when set, runs before each event is stored.
	onPublish func()
}

func (s *storedEvents) Publish(_ context.Context, _ string, ev event.Event) (bus.Stored, error) {
	if s.onPublish != nil {
		s.onPublish()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, ev)
	return bus.Stored{Event: ev, Sequence: uint64(len(s.events))}, nil
}

func (s *storedEvents) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, ev := range s.events {
		out = append(out, ev.ID())
	}
	return out
}

// newTestInterval returns an Interval over srcs that publishes to a
// storedEvents on a fakeClock.
func newTestInterval(t *testing.T, srcs ...config.Source) (*Interval, *storedEvents, *fakeClock) {
	sent, c := &storedEvents{}, newFakeClock()
	iv := NewInterval(bus.Publisher{Deployment: "test"}, nil, testsupport.Logger(t))
	iv.producer.Sender, iv.producer.Retry = sent, retry.Backoff{Attempts: 1}
	iv.clock = c
	iv.SetSources(srcs)
	return iv, sent, c
}

// settle pokes the loop of iv, as a new configuration or a failure's
// status does, and returns once a round that read the clock after the
// poke has published what was due and sleeps until its next slot, with
// nothing waking it.
func settle(t *testing.T, iv *Interval, c *fakeClock) {
	t.Helper()
	c.mu.Lock()
	nows := c.nows
	c.mu.Unlock()
	iv.poke()
	testsupport.Eventually(t, "a round of the interval loop after the poke", func() bool {
		running := c.running()
		return len(running) > 0 && running[len(running)-1].nows > nows && len(iv.wake) == 0
	})
}

// intervalConformance is the interval fallback over one source with an
// hourly slot; Set moves the clock to the start of the source's next slot.
type intervalConformance struct {
	iv    *Interval
	sent  *storedEvents
	clock *fakeClock
	src   config.Source
}

func newIntervalConformance(t *testing.T) *intervalConformance {
	src := config.Source{Name: "conform", File: &config.File{Path: "x.json"}, SyncPolicy: &config.SyncPolicy{Interval: config.Duration(time.Hour)}}
	iv, sent, c := newTestInterval(t, src)
	return &intervalConformance{iv: iv, sent: sent, clock: c, src: src}
}

func (h *intervalConformance) Run(ctx context.Context) error { return h.iv.Run(ctx) }

// Set starts the source's next slot, whatever version the suite names:
// every slot is a new observation. An interval trigger names no revision
// but the slot it requests, by its id, which stands for the revision.
func (h *intervalConformance) Set(*testing.T, int) string {
	slot, next := syncer.Slot(h.src.Name, h.src.Interval(), h.clock.current())
	h.clock.advanceTo(next)
	return fmt.Sprintf("iv-%s-%d", h.src.Name, slot)
}

func (h *intervalConformance) Settle(t *testing.T) { settle(t, h.iv, h.clock) }

func (h *intervalConformance) Stored() []watchtest.Trigger {
	h.sent.mu.Lock()
	defer h.sent.mu.Unlock()
	var out []watchtest.Trigger
	for _, ev := range h.sent.events {
		data, err := events.DecodeData[events.SyncRequested](ev)
		if err != nil || data.Trigger != events.TriggerInterval || data.Source != h.src.Name {
			panic("interval stored " + ev.ID() + ", not an interval trigger of " + h.src.Name)
		}
		out = append(out, watchtest.Trigger{ID: ev.ID(), Revision: data.RequestID})
	}
	return out
}

// A slot that starts while the loop publishes the triggers of a round is
// published by the next round at once, not left for the slot after it.
func TestIntervalSlotStartingWhilePublishingIsNotSkipped(t *testing.T) {
	hourly := func(name string) config.Source {
		return config.Source{Name: name, File: &config.File{Path: "x.json"}, SyncPolicy: &config.SyncPolicy{Interval: config.Duration(time.Hour)}}
	}
	first, second := hourly("a"), hourly("b")
	iv, sent, c := newTestInterval(t, first, second)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- iv.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	settle(t, iv, c)

	// The slot of one source starts first; storing its trigger takes
	// until just after the other's slot starts.
	_, at1 := syncer.Slot(first.Name, time.Hour, c.current())
	_, at2 := syncer.Slot(second.Name, time.Hour, c.current())
	if at2.Before(at1) {
		first, second, at1, at2 = second, first, at2, at1
	}
	var once sync.Once
	sent.onPublish = func() { once.Do(func() { c.advanceTo(at2.Add(time.Millisecond)) }) }
	c.mu.Lock()
	nows := c.nows
	c.mu.Unlock()
	c.advanceTo(at1)
	var asleep *fakeTimer
	testsupport.Eventually(t, "the round that published the first slot asleep", func() bool {
		running := c.running()
		if len(running) == 0 || running[len(running)-1].nows <= nows {
			return false
		}
		asleep = running[len(running)-1]
		return true
	})
	if pause := asleep.at.Sub(c.current()); pause > 10*time.Millisecond {
		t.Fatalf("after publishing into the start of %s's slot the loop sleeps %v", second.Name, pause)
	}
	c.advance(10 * time.Millisecond)
	testsupport.Eventually(t, "both slots' triggers", func() bool { return len(sent.ids()) == 2 })
	slot1, _ := syncer.Slot(first.Name, time.Hour, at1)
	slot2, _ := syncer.Slot(second.Name, time.Hour, at2)
	want := []string{fmt.Sprintf("iv-%s-%d", first.Name, slot1-1), fmt.Sprintf("iv-%s-%d", second.Name, slot2-1)}
	if got := sent.ids(); !slices.Equal(got, want) {
		t.Errorf("stored %v, want %v", got, want)
	}
}
