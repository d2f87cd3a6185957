// Package retry holds the one retry of regsync: a doubling backoff, the
// loop that calls a function again under it, and a pause that ends with
// its context. Every retry and every pause between tries uses it:
// publishing an event, NATS calls while a cluster changes, polling a
// failing source, retrying a failed sync, re-reading a file being written.
package retry

import (
	"context"
	"fmt"
	"time"
)

// Backoff calls a function again while it fails with an error worth
// another try, pausing Delay(n) after the n-th failed try.
type Backoff struct {
	// First is the pause after the first failure, doubled after each
	// further one, never more than Limit.
	First, Limit time.Duration
	// Timeout, when set, bounds each try, so that a request the cluster
	// lost costs one try and not the caller's whole deadline.
	Timeout time.Duration
	// Attempts, when set, is how many tries there are in all; 0: no
	// limit but ctx.
	Attempts int
	// Retryable says which errors are worth another try; nil: every one.
	Retryable func(error) bool
	// OnRetry, when set, is told each failed try (counted from 1) that
	// will be retried, its error and the pause before the next try, for a
	// log line.
	OnRetry func(attempt int, err error, wait time.Duration)
}

// Delay is the pause before try n+1 after n consecutive failures (n ≥ 1):
// First, doubled after each further failure, never more than Limit.
func (b Backoff) Delay(failures int) time.Duration {
	d := b.First
	for i := 1; i < failures && d < b.Limit; i++ {
		d *= 2
	}
	return min(d, b.Limit)
}

// Do calls fn until it succeeds, fails with an error that is not
// retryable, runs out of attempts or ctx is done, and returns fn's last
// error: with ctx's error first when ctx ended the tries, saying how many
// there were when they ran out.
func (b Backoff) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	for attempt := 1; ; attempt++ {
		err := b.try(ctx, fn)
		switch {
		case err == nil || (b.Retryable != nil && !b.Retryable(err)):
			return err
		case ctx.Err() != nil:
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		case b.Attempts > 0 && attempt >= b.Attempts:
			if attempt > 1 {
				err = fmt.Errorf("gave up after %d attempts: %w", attempt, err)
			}
			return err
		}
		wait := b.Delay(attempt)
		if b.OnRetry != nil {
			b.OnRetry(attempt, err, wait)
		}
		if Wait(ctx, wait) != nil {
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		}
	}
}

func (b Backoff) try(ctx context.Context, fn func(ctx context.Context) error) error {
	if b.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.Timeout)
		defer cancel()
	}
	return fn(ctx)
}

// Wait pauses for d, or until ctx is done, and then returns ctx's error.
func Wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
