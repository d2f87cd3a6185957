package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/syncer/state"
	"github.com/regsync/regsync/internal/testsupport"
)

// streamIDs returns the message ids stored on a trigger subject.
func streamIDs(t *testing.T, h *harness, source string) []string {
	t.Helper()
	ctx := context.Background()
	stream, err := h.js.Stream(ctx, events.StreamTriggers)
	if err != nil {
		t.Fatal(err)
	}
	st := stream.CachedInfo().State
	var ids []string
	for seq := st.FirstSeq; st.Msgs > 0 && seq <= st.LastSeq; seq++ {
		msg, err := stream.GetMsg(ctx, seq)
		if err != nil {
			continue // removed
		}
		if msg.Subject == events.TriggerSubject(source) {
			ids = append(ids, msg.Header.Get("Nats-Msg-Id"))
		}
	}
	return ids
}

func TestTwoReplicasPublishOneTriggerPerSlot(t *testing.T) {
	h := newHarness(t)
	src := config.Source{Name: "ticking", File: &config.File{Path: "x.json"}, SyncPolicy: &config.SyncPolicy{Interval: config.Duration(250 * time.Millisecond)}}
	logger := slog.New(slog.NewTextHandler(t.Output(), nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	for range 2 {
		iv := NewInterval(h.h.Publisher, []config.Source{src}, logger)
		go func() { done <- runWatched(ctx, h, iv) }()
	}
	var ids []string
	testsupport.Eventually(t, "three interval slots", func() bool {
		ids = streamIDs(t, h, "ticking")
		return len(ids) >= 3
	})
	cancel()
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	ids = streamIDs(t, h, "ticking")
	seen := map[string]bool{}
	for _, id := range ids {
		if !strings.HasPrefix(id, "iv-ticking-") || seen[id] {
			t.Errorf("trigger id %q (all: %v)", id, ids)
		}
		seen[id] = true
	}
}

func TestIntervalTriggerOnUnchangedDataIsSkipped(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(h.dir, "registry.json")
	writeRegistry(t, path, alpha)
	src := fileSource("local", path, nil)
	src.SyncPolicy.Interval = config.Duration(300 * time.Millisecond)
	h.start([]config.Source{src}, 0)
	res := h.results("local")
	h.request("local")
	res.completed()

	iv := NewInterval(h.h.Publisher, []config.Source{src}, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runWatched(ctx, h, iv) }()
	defer func() { cancel(); <-done }()

	s := res.skipped()
	if s.Reason != "up-to-date-with-policy" || !strings.HasPrefix(s.TriggerIDs[0], "iv-local-") {
		t.Errorf("skipped %+v", s)
	}
	st := h.getStatus("local")
	if st.NextSyncTime == nil || !st.NextSyncTime.After(time.Now().Add(-time.Second)) {
		t.Errorf("nextSyncTime %v", st.NextSyncTime)
	}
}

func TestFailedSourceIsRetriedAtItsRetryTime(t *testing.T) {
	h := newHarness(t)
	src := config.Source{Name: "flaky", File: &config.File{Path: "x.json"}, SyncPolicy: &config.SyncPolicy{Interval: config.Duration(time.Hour)}}
	iv := NewInterval(h.h.Publisher, []config.Source{src}, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runWatched(ctx, h, iv) }()
	defer func() { cancel(); <-done }()

	failedAt := time.Now()
	retryAt := failedAt.Add(300 * time.Millisecond)
	st := state.Status{Phase: state.PhaseFailed, AttemptCount: 2, LastSyncTime: &failedAt, NextSyncTime: &retryAt}
	data, _ := json.Marshal(st)
	if _, err := h.h.Status.Put(context.Background(), "flaky", data); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("rt-flaky-2-%d", failedAt.UnixNano())
	testsupport.Eventually(t, "a retry trigger", func() bool {
		ids := streamIDs(t, h, "flaky")
		return len(ids) == 1 && ids[0] == want
	})
}

// A failure episode that follows an earlier one within the duplicate
// window starts again at attempt 1; its retry must still be stored, not
// dropped as a repeat of the earlier episode's retry.
func TestEveryFailureEpisodeIsRetried(t *testing.T) {
	h := newHarness(t)
	src := config.Source{Name: "flaky", File: &config.File{Path: "x.json"}, SyncPolicy: &config.SyncPolicy{Interval: config.Duration(time.Hour)}}
	iv := NewInterval(h.h.Publisher, []config.Source{src}, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runWatched(ctx, h, iv) }()
	defer func() { cancel(); <-done }()

	put := func(st state.Status) {
		t.Helper()
		data, _ := json.Marshal(st)
		if _, err := h.h.Status.Put(context.Background(), "flaky", data); err != nil {
			t.Fatal(err)
		}
	}
	for episode := 1; episode <= 2; episode++ {
		failedAt := time.Now()
		retryAt := failedAt.Add(50 * time.Millisecond)
		put(state.Status{Phase: state.PhaseFailed, AttemptCount: 1, LastSyncTime: &failedAt, NextSyncTime: &retryAt})
		testsupport.Eventually(t, fmt.Sprintf("the retry of episode %d", episode), func() bool {
			return len(streamIDs(t, h, "flaky")) == episode
		})
		put(state.Status{Phase: state.PhaseComplete, LastSyncTime: &retryAt})
	}
	if ids := streamIDs(t, h, "flaky"); ids[0] == ids[1] {
		t.Errorf("both episodes' retries have the id %s", ids[0])
	}
}

// runWatched runs iv with the status watch that feeds it, as serve does.
func runWatched(ctx context.Context, h *harness, iv *Interval) error {
	w := NewStatusWatch(h.h, slog.New(slog.DiscardHandler), iv)
	var g errgroup.Group
	g.Go(func() error { return w.Run(ctx) })
	g.Go(func() error { return iv.Run(ctx) })
	return g.Wait()
}
