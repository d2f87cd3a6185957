package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestTemporary(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"a call's deadline", fmt.Errorf("ensure stream: %w", context.DeadlineExceeded), true},
		{"a request timeout", nats.ErrTimeout, true},
		{"no responders during an election", fmt.Errorf("read: %w", nats.ErrNoResponders), true},
		{"a reconnecting connection", nats.ErrConnectionReconnecting, true},
		{"no heartbeat from a restarting server", jetstream.ErrNoHeartbeat, true},
		{"JetStream temporarily unavailable", &jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}, true},
		{"a cluster still forming", fmt.Errorf("ensure stream REGSYNC_TRIGGERS: %w", &jetstream.APIError{Code: 400, ErrorCode: 10005, Description: "no suitable peers for placement"}), true},
		{"JetStream not enabled", jetstream.ErrJetStreamNotEnabled, false},
		{"JetStream not enabled for the account", &jetstream.APIError{Code: 503, ErrorCode: jetstream.JSErrCodeJetStreamNotEnabledForAccount}, false},
		{"a stream that does not exist", jetstream.ErrStreamNotFound, false},
		{"a permissions violation", nats.ErrPermissionViolation, false},
		{"the caller gave up", context.Canceled, false},
		{"a closed connection", nats.ErrConnectionClosed, false},
		{"any other error", errors.New("bad request"), false},
		{"no error", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Temporary(tc.err); got != tc.want {
				t.Errorf("Temporary(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	temporary := &jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}
	permanent := errors.New("permissions violation")
	tests := []struct {
		name      string
		errs      []error // what the tries return, then nil
		wantCalls int
		wantErr   error
	}{
		{"succeeds at once", nil, 1, nil},
		{"outlasts an election", []error{temporary, nats.ErrNoResponders, context.DeadlineExceeded}, 4, nil},
		{"stops at a permanent error", []error{temporary, permanent}, 2, permanent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls, retries := 0, 0
			b := Backoff{First: time.Microsecond, Limit: time.Millisecond, OnRetry: func(int, error, time.Duration) { retries++ }}
			err := b.Do(context.Background(), func(context.Context) error {
				calls++
				if calls <= len(tc.errs) {
					return tc.errs[calls-1]
				}
				return nil
			})
			if calls != tc.wantCalls || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Errorf("%d calls, err %v; want %d calls, err %v", calls, err, tc.wantCalls, tc.wantErr)
			}
			if wantRetries := min(len(tc.errs), tc.wantCalls-1); tc.wantErr == nil && retries != wantRetries {
				t.Errorf("%d retries told, want %d", retries, wantRetries)
			}
		})
	}
	t.Run("runs out of attempts", func(t *testing.T) {
		for _, attempts := range []int{1, 3} {
			calls := 0
			b := Backoff{First: time.Microsecond, Limit: time.Microsecond, Attempts: attempts}
			err := b.Do(context.Background(), func(context.Context) error {
				calls++
				return temporary
			})
			if calls != attempts || !errors.Is(err, temporary) || (attempts > 1) != strings.Contains(err.Error(), "gave up after 3 attempts") {
				t.Errorf("Attempts %d: %d calls, err %v", attempts, calls, err)
			}
		}
	})
	t.Run("retries what Retryable names", func(t *testing.T) {
		calls := 0
		b := Backoff{First: time.Microsecond, Limit: time.Microsecond, Retryable: func(err error) bool { return errors.Is(err, permanent) }}
		err := b.Do(context.Background(), func(context.Context) error {
			if calls++; calls < 3 {
				return permanent
			}
			return temporary
		})
		if calls != 3 || !errors.Is(err, temporary) {
			t.Errorf("%d calls, err %v; want 3 calls ending with the error Retryable refuses", calls, err)
		}
	})
	t.Run("a try that is not answered costs its timeout", func(t *testing.T) {
		calls := 0
		b := Backoff{First: time.Microsecond, Limit: time.Microsecond, Timeout: time.Millisecond}
		err := b.Do(context.Background(), func(ctx context.Context) error {
			if calls++; calls < 3 {
				<-ctx.Done() // a request the cluster lost
				return ctx.Err()
			}
			return nil
		})
		if calls != 3 || err != nil {
			t.Errorf("%d calls, err %v; want the third try to succeed", calls, err)
		}
	})
	t.Run("gives up when the caller does", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		calls := 0
		b := Backoff{First: time.Hour, Limit: time.Hour, OnRetry: func(int, error, time.Duration) { cancel() }}
		err := b.Do(ctx, func(context.Context) error {
			calls++
			return temporary
		})
		if calls != 1 || !errors.Is(err, context.Canceled) || !errors.Is(err, temporary) {
			t.Errorf("%d calls, err %v; want 1 call and the cancellation with the last error", calls, err)
		}
	})
}
