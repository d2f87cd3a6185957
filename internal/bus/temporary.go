package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/internal/backoff"
)

// errCodeNoPeers is JetStream's answer to a stream or bucket that cannot be
// placed on enough servers (JSClusterNoPeersErrF): a cluster still forming
// gives it until its servers have met.
const errCodeNoPeers jetstream.ErrorCode = 10005

// Temporary reports whether err is what NATS answers while a cluster
// changes (a leader election, a restarting server, a reconnect, servers
// still meeting), so that the same call can succeed a little later: a
// timeout, no responders, a lost connection, no peers to place a stream
// on, or a JetStream API error with code 503, except that JetStream is not
// enabled at all (ErrNoJetStream, or the account's JetStream).
func Temporary(err error) bool {
	switch {
	case err == nil, errors.Is(err, ErrNoJetStream):
		return false
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout),
		errors.Is(err, nats.ErrNoResponders), errors.Is(err, nats.ErrDisconnected),
		errors.Is(err, nats.ErrConnectionReconnecting), errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, jetstream.ErrNoHeartbeat), errors.Is(err, jetstream.ErrServerShutdown):
		return true
	}
	if hasCode(err, errCodeNoPeers) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.Code == 503 &&
		apiErr.ErrorCode != jetstream.JSErrCodeJetStreamNotEnabled &&
		apiErr.ErrorCode != jetstream.JSErrCodeJetStreamNotEnabledForAccount
}

// Backoff calls a function again while it fails with an error worth
// another try, pausing as backoff.Doubling(First, Limit) says: the one
// retry of every NATS call and publish in regsync.
type Backoff struct {
	First, Limit time.Duration
	// Timeout, when set, bounds each try, so that a request the cluster
	// lost costs one try and not the caller's whole deadline.
	Timeout time.Duration
	// Attempts, when set, is how many tries there are in all; 0: no
	// limit but ctx.
	Attempts int
	// Retryable says which errors are worth another try; nil: Temporary.
	Retryable func(error) bool
	// OnRetry, when set, is told each failed try (counted from 1) that
	// will be retried, its error and the pause before the next try, for a
	// log line.
	OnRetry func(attempt int, err error, wait time.Duration)
}

// Do calls fn until it succeeds, fails with an error that is not
// retryable, runs out of attempts or ctx is done, and returns fn's last
// error: with ctx's error first when ctx ended the tries, saying how many
// there were when they ran out.
func (b Backoff) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	retryable := b.Retryable
	if retryable == nil {
		retryable = Temporary
	}
	for attempt := 1; ; attempt++ {
		err := b.try(ctx, fn)
		switch {
		case err == nil || !retryable(err):
			return err
		case ctx.Err() != nil:
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		case b.Attempts > 0 && attempt >= b.Attempts:
			if attempt > 1 {
				err = fmt.Errorf("gave up after %d attempts: %w", attempt, err)
			}
			return err
		}
		wait := backoff.Doubling(b.First, b.Limit, attempt)
		if b.OnRetry != nil {
			b.OnRetry(attempt, err, wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		case <-t.C:
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
