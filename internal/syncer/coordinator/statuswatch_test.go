package coordinator

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/internal/testsupport"
)

// scriptedBucket is a status bucket whose opens go as its script says, one
// step per open: "fail" (the bucket cannot be opened), "end" (the watch
// ends at once) or "replay" (the watch replays the records, none, and
// ends). Past the script the watch stays open.
type scriptedBucket struct {
	jetstream.KeyValue // nil: the watch uses WatchAll only
	script             []string

	mu    sync.Mutex
	opens int
}

func (b *scriptedBucket) step() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if i := b.opens - 1; i < len(b.script) {
		return b.script[i]
	}
	return "open"
}

func (b *scriptedBucket) EnsureStatus(context.Context) (jetstream.KeyValue, error) {
	b.mu.Lock()
	b.opens++
	b.mu.Unlock()
	if b.step() == "fail" {
		return nil, errors.New("nats: timeout")
	}
	return b, nil
}

func (b *scriptedBucket) WatchAll(context.Context, ...jetstream.WatchOpt) (jetstream.KeyWatcher, error) {
	updates := make(chan jetstream.KeyValueEntry, 1)
	switch b.step() {
	case "end":
		close(updates)
	case "replay":
		updates <- nil
		close(updates)
	}
	return scriptedWatch(updates), nil
}

type scriptedWatch chan jetstream.KeyValueEntry

func (w scriptedWatch) Updates() <-chan jetstream.KeyValueEntry { return w }
func (scriptedWatch) Stop() error                               { return nil }

// A status watch that keeps stopping, or a bucket that cannot be opened,
// is watched again after pauses that grow; a watch that replayed the
// records before it stopped starts them over.
func TestStatusWatchPausesGrowWhileWatchesKeepStopping(t *testing.T) {
	bucket := &scriptedBucket{script: []string{"fail", "end", "end", "end", "replay", "end", "fail"}}
	w := NewStatusWatch(bucket, testsupport.Logger(t))
	var mu sync.Mutex
	var waits []time.Duration
	w.wait = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		waits = append(waits, d)
		return ctx.Err()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	testsupport.Eventually(t, "the watch open past the script", func() bool {
		select {
		case err := <-done:
			t.Fatalf("Run returned %v before the watch was open again", err)
		default:
		}
		bucket.mu.Lock()
		defer bucket.mu.Unlock()
		return bucket.opens > len(bucket.script)
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	s := time.Second
	if want := []time.Duration{s, 2 * s, 4 * s, 8 * s, s, 2 * s, 4 * s}; !slices.Equal(waits, want) {
		t.Errorf("paused %v, want %v", waits, want)
	}
}
