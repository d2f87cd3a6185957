package jserr

import (
	"context"
	"errors"
	"fmt"
	"testing"

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

func TestIsConflict(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"key exists", jetstream.ErrKeyExists, true},
		{"revision mismatch", jetstream.ErrKeyRevisionMismatch, true},
		{"wrong last sequence, single replica", &jetstream.APIError{Code: 400, ErrorCode: 10071}, true},
		{"wrong last sequence, replicated", fmt.Errorf("update: %w", &jetstream.APIError{Code: 400, ErrorCode: 10164}), true},
		{"timeout", context.DeadlineExceeded, false},
		{"other api error", &jetstream.APIError{Code: 503, ErrorCode: 10008}, false},
		{"nil", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsConflict(tc.err); got != tc.want {
				t.Errorf("IsConflict(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestIsDuplicateInProcess(t *testing.T) {
	inProcess := &jetstream.APIError{Code: 409, ErrorCode: 10158, Description: "duplicate message id is in process"}
	if !IsDuplicateInProcess(fmt.Errorf("publish: %w", inProcess)) {
		t.Error("a duplicate in process is not recognised")
	}
	if IsDuplicateInProcess(&jetstream.APIError{Code: 503, ErrorCode: 10008}) {
		t.Error("another API error counts as a duplicate in process")
	}
}
