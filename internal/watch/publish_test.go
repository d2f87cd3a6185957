package watch

import (
	"context"
	"sync"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/testsupport"
)

// Triggers of different sources are stored at once, so that a thousand
// sources changed together do not wait for each other: here every publish
// waits until eight are in flight together, which one at a time never
// reaches.
func TestTriggersPublishSourcesAtOnce(t *testing.T) {
	t.Parallel()
	const together = 8
	var mu sync.Mutex
	inFlight, stored := 0, 0
	all := make(chan struct{})
	pub := publisherFunc(func(ctx context.Context, _ string, _ event.Event) error {
		mu.Lock()
		inFlight++
		if inFlight == together {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
		case <-ctx.Done():
			return ctx.Err()
		}
		mu.Lock()
		stored++
		mu.Unlock()
		return nil
	})
	tr := newTriggers(pub, fileProducer, events.TriggerFile, "file", "missing", testsupport.Logger(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tr.run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for i := range together {
		tr.offer(string(rune('a'+i)), "rev", false)
	}
	testsupport.Eventually(t, "every trigger stored", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return stored == together
	})
}

// One source's triggers are stored one at a time, and the newest
// observation replaces one not yet taken.
func TestTriggersOneSourceLatestWins(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var mu sync.Mutex
	var got []string
	pub := publisherFunc(func(ctx context.Context, _ string, ev event.Event) error {
		d, err := events.DecodeData[events.SourceChanged](ev)
		if err != nil {
			return err
		}
		mu.Lock()
		got = append(got, d.Revision)
		first := len(got) == 1
		mu.Unlock()
		if first {
			<-release
		}
		return nil
	})
	tr := newTriggers(pub, fileProducer, events.TriggerFile, "file", "missing", testsupport.Logger(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tr.run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	tr.offer("a", "r1", false)
	testsupport.Eventually(t, "the first publish", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 1 })
	tr.offer("a", "r2", false)
	tr.offer("a", "r3", false)
	tr.offer("a", "r3", false)
	close(release)
	testsupport.Eventually(t, "the newest stored", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 2
	})
	testsupport.Eventually(t, "r3 recorded as stored", func() bool {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		rev, known := tr.sources["a"].latest()
		return known && rev == "r3" && tr.sources["a"].inflight == nil
	})
	mu.Lock()
	defer mu.Unlock()
	if got[1] != "r3" {
		t.Errorf("published %v, want r1 then r3", got)
	}
}
