// Package jserr holds what regsync reads from the errors of NATS and
// JetStream: which ones a later try can get past, which ones say a
// compare-and-swap lost its race. It links the client only, never the
// embedded server, so that the status store and the client commands can
// use it.
package jserr

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrNoJetStream reports a server regsync is connected to that does not
// have JetStream enabled: no retry makes it appear.
var ErrNoJetStream = errors.New("JetStream is not enabled on this server")

// codeNoPeers is JetStream's answer to a stream or bucket that cannot be
// placed on enough servers (JSClusterNoPeersErrF): a cluster still forming
// gives it until its servers have met.
const codeNoPeers jetstream.ErrorCode = 10005

// codeDuplicateInProcess is JetStream's answer to a message whose id
// another publisher is storing at this moment
// (JSStreamDuplicateMessageConflict).
const codeDuplicateInProcess jetstream.ErrorCode = 10158

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
	if hasCode(err, codeNoPeers) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.Code == 503 &&
		apiErr.ErrorCode != jetstream.JSErrCodeJetStreamNotEnabled &&
		apiErr.ErrorCode != jetstream.JSErrCodeJetStreamNotEnabledForAccount
}

// IsConflict reports whether a key-value write lost a compare-and-swap race:
// the key exists (Create) or moved on (Update, Delete). Replicated buckets
// answer with a different error code than single-replica ones; both count.
func IsConflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) ||
		hasCode(err, jetstream.JSErrCodeStreamWrongLastSequence) ||
		hasCode(err, jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// IsDuplicateInProcess reports whether a publish was refused because
// another publisher is storing a message with the same id at this moment:
// the stream holds it either way.
func IsDuplicateInProcess(err error) bool {
	return hasCode(err, codeDuplicateInProcess)
}

func hasCode(err error, code jetstream.ErrorCode) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == code
}
