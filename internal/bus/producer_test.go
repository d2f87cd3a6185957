package bus

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/retry"
)

// senderFunc is a Sender whose stores are what f says: a sequence
// counted from 1 for each event stored.
type senderFunc func(ctx context.Context, subject string, ev event.Event) error

func (f senderFunc) Publish(ctx context.Context, subject string, ev event.Event) (Stored, error) {
	if err := f(ctx, subject, ev); err != nil {
		return Stored{}, err
	}
	return Stored{Event: ev, Sequence: 1}, nil
}

func TestProducerRetries(t *testing.T) {
	fail := errors.New("down")
	tests := []struct {
		name      string
		failures  int
		stale     bool
		wantCalls int
		wantErr   error
	}{
		{"stored at once", 0, false, 1, nil},
		{"stored on the third try", 2, false, 3, nil},
		{"gives up after the last try", 10, false, 5, fail},
		{"abandoned for a newer observation", 10, true, 1, ErrStale},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			var ids, subjects []string
			p := Producer{Name: "regsync/test", Retry: retry.Backoff{Attempts: 5, First: time.Millisecond, Limit: 4 * time.Millisecond, Timeout: time.Second},
				Sender: senderFunc(func(_ context.Context, subject string, ev event.Event) error {
					calls++
					ids, subjects = append(ids, ev.ID()), append(subjects, subject)
					if calls <= tc.failures {
						return fail
					}
					return nil
				})}
			st, err := p.PublishUnlessStale(context.Background(), "id-1",
				&events.SourceChanged{Source: "src", Trigger: events.TriggerFile}, func() bool { return tc.stale })
			if calls != tc.wantCalls || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Errorf("%d calls, err %v; want %d calls, err %v", calls, err, tc.wantCalls, tc.wantErr)
			}
			for i := range ids {
				if ids[i] != "id-1" || subjects[i] != events.TriggerSubject("src") {
					t.Errorf("try %d sent %s on %s, want the same event on the trigger subject", i+1, ids[i], subjects[i])
				}
			}
			if st.Event.Source() != "regsync/test" || st.Event.ID() != "id-1" {
				t.Errorf("event source %q id %q", st.Event.Source(), st.Event.ID())
			}
			if stored := tc.wantErr == nil; (st.Sequence == 1) != stored {
				t.Errorf("stored sequence %d; stored: %v", st.Sequence, stored)
			}
		})
	}
}

func TestSubjectOf(t *testing.T) {
	tests := []struct {
		data events.Data
		want string
	}{
		{&events.SourceChanged{Source: "a"}, events.TriggerSubject("a")},
		{&events.SyncRequested{Source: "a"}, events.TriggerSubject("a")},
		{&events.SyncCompleted{Source: "a"}, events.ResultSubject("a", "completed")},
		{&events.SyncFailed{Source: "a"}, events.ResultSubject("a", "failed")},
		{&events.SyncSkipped{Source: "a"}, events.ResultSubject("a", "skipped")},
		{&events.RegistryChanged{Registry: "r"}, events.RegistrySubject("r")},
	}
	for _, tc := range tests {
		if got := SubjectOf(tc.data); got != tc.want {
			t.Errorf("%T: %s, want %s", tc.data, got, tc.want)
		}
	}
}

func TestProducerDoesNotSendAnEventItCannotBuild(t *testing.T) {
	calls := 0
	p := Producer{Name: "regsync/test", Retry: DefaultRetry, Sender: senderFunc(func(context.Context, string, event.Event) error {
		calls++
		return nil
	})}
	_, err := p.Publish(context.Background(), "id-1", &events.SourceChanged{Source: "src"})
	if !errors.Is(err, ErrBuild) || calls != 0 {
		t.Errorf("err %v after %d sends; want ErrBuild and no send", err, calls)
	}
}

// An event that does not encode (over events.MaxEventSize) would fail the
// same way on every try: it is sent once and not retried.
func TestProducerDoesNotRetryAnEventThatDoesNotEncode(t *testing.T) {
	calls := 0
	pub := Publisher{Mode: events.Structured}
	p := Producer{Name: "regsync/test", Retry: retry.Backoff{First: time.Millisecond, Limit: time.Millisecond, Timeout: time.Minute},
		Sender: senderFunc(func(ctx context.Context, subject string, ev event.Event) error {
			calls++
			_, err := pub.Publish(ctx, subject, ev)
			return err
		})}
	huge := &events.SourceChanged{Source: "src", Trigger: events.TriggerFile, Revision: strings.Repeat("r", events.MaxEventSize)}
	_, err := p.Publish(context.Background(), "id-1", huge)
	if !errors.Is(err, ErrBuild) || calls != 1 {
		t.Errorf("err %v after %d sends; want ErrBuild after one", err, calls)
	}
}

// A caller's own Retryable and OnRetry are kept: the producer adds its
// own rules (never retry ErrStale or ErrBuild, log) to them.
func TestProducerKeepsTheCallersRetry(t *testing.T) {
	permanent := errors.New("permanent")
	calls, told := 0, 0
	p := Producer{Name: "regsync/test",
		Retry: retry.Backoff{First: time.Millisecond, Limit: time.Millisecond, Attempts: 5,
			Retryable: func(err error) bool { return !errors.Is(err, permanent) },
			OnRetry:   func(int, error, time.Duration) { told++ }},
		Sender: senderFunc(func(context.Context, string, event.Event) error {
			if calls++; calls == 1 {
				return errors.New("down")
			}
			return permanent
		})}
	_, err := p.Publish(context.Background(), "id-1", &events.SourceChanged{Source: "src", Trigger: events.TriggerFile})
	if !errors.Is(err, permanent) || calls != 2 || told != 1 {
		t.Errorf("err %v after %d sends and %d retries told; want the permanent error after 2 sends, 1 retry told", err, calls, told)
	}
}
