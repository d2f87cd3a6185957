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
// enabled at all.
func Temporary(err error) bool {
	switch {
	case err == nil:
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
// another try, pausing as backoff.Doubling(First, Limit) says.
type Backoff struct {
	First, Limit time.Duration
	// Timeout, when set, bounds each try, so that a request the cluster
	// lost costs one try and not the caller's whole deadline.
	Timeout time.Duration
	// Retryable says which errors are worth another try; nil: Temporary.
	Retryable func(error) bool
	// OnRetry, when set, is told each error that will be retried and the
	// pause before the next try, for a log line.
	OnRetry func(err error, wait time.Duration)
}

// Do calls fn until it succeeds, fails with an error that is not
// retryable, or ctx is done; then it returns fn's last error, with ctx's
// error first when ctx ended the tries.
func (b Backoff) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	retryable := b.Retryable
	if retryable == nil {
		retryable = Temporary
	}
	for failures := 1; ; failures++ {
		err := b.try(ctx, fn)
		if err == nil || !retryable(err) || ctx.Err() != nil {
			return err
		}
		wait := backoff.Doubling(b.First, b.Limit, failures)
		if b.OnRetry != nil {
			b.OnRetry(err, wait)
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
