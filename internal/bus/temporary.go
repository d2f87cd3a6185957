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

// Temporary reports whether err is what NATS answers while a cluster
// changes (a leader election, a restarting server, a reconnect), so that
// the same call can succeed a little later: a timeout, no responders, a
// lost connection, or a JetStream API error with code 503, except that
// JetStream is not enabled at all.
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
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.Code == 503 &&
		apiErr.ErrorCode != jetstream.JSErrCodeJetStreamNotEnabled &&
		apiErr.ErrorCode != jetstream.JSErrCodeJetStreamNotEnabledForAccount
}

// Retrying calls fn until it succeeds, fails for good (an error that is
// not Temporary), or ctx is done. Between tries it waits as
// backoff.Doubling(first, limit) says, after telling onRetry (when not nil)
// the error and the wait, for a log line.
func Retrying(ctx context.Context, first, limit time.Duration, onRetry func(err error, wait time.Duration), fn func(ctx context.Context) error) error {
	for failures := 1; ; failures++ {
		err := fn(ctx)
		if err == nil || !Temporary(err) || ctx.Err() != nil {
			return err
		}
		wait := backoff.Doubling(first, limit, failures)
		if onRetry != nil {
			onRetry(err, wait)
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
