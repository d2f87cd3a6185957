package retry

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDelay(t *testing.T) {
	tests := []struct {
		name         string
		first, limit time.Duration
		failures     int
		want         time.Duration
	}{
		{"first failure waits first", time.Second, time.Minute, 1, time.Second},
		{"no failure counted waits first", time.Second, time.Minute, 0, time.Second},
		{"each failure doubles", time.Second, time.Minute, 4, 8 * time.Second},
		{"capped at the limit", time.Second, time.Minute, 50, time.Minute},
		{"a first wait over the limit is capped", time.Hour, time.Minute, 1, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (Backoff{First: tt.first, Limit: tt.limit}).Delay(tt.failures); got != tt.want {
				t.Errorf("Backoff{%v, %v}.Delay(%d) = %v, want %v", tt.first, tt.limit, tt.failures, got, tt.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	temporary := errors.New("JetStream system temporarily unavailable")
	isTemporary := func(err error) bool { return errors.Is(err, temporary) }
	permanent := errors.New("permissions violation")
	tests := []struct {
		name      string
		errs      []error // what the tries return, then nil
		wantCalls int
		wantErr   error
	}{
		{"succeeds at once", nil, 1, nil},
		{"outlasts an election", []error{temporary, temporary, temporary}, 4, nil},
		{"stops at a permanent error", []error{temporary, permanent}, 2, permanent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls, retries := 0, 0
			b := Backoff{First: time.Microsecond, Limit: time.Millisecond, Retryable: isTemporary, OnRetry: func(int, error, time.Duration) { retries++ }}
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

func TestWaitEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Wait(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait(cancelled, 1h) = %v, want context.Canceled", err)
	}
	if err := Wait(context.Background(), time.Microsecond); err != nil {
		t.Errorf("Wait(1µs) = %v, want nil", err)
	}
}
