package bus

import (
	"context"
	"errors"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/regsync/regsync/events"
)

// answeringJS is a JetStream whose publishes all get one answer.
type answeringJS struct {
	jetstream.JetStream
	err error
}

func (js answeringJS) PublishMsg(context.Context, *nats.Msg, ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	if js.err != nil {
		return nil, js.err
	}
	return &jetstream.PubAck{Stream: events.StreamTriggers, Sequence: 1}, nil
}

func TestPublishCountsADuplicateInProcessAsStored(t *testing.T) {
	ev, err := events.New("iv-src-7", "/regsync/interval", &events.SyncRequested{Source: "src", Trigger: events.TriggerInterval})
	if err != nil {
		t.Fatal(err)
	}
	// Two replicas publish the interval slot's trigger at the same moment;
	// the one that loses is told the id is being stored by the other.
	inProcess := &jetstream.APIError{Code: 409, ErrorCode: 10158, Description: "duplicate message id is in process"}
	st, err := Publisher{JS: answeringJS{err: inProcess}}.Publish(context.Background(), events.TriggerSubject("src"), ev)
	if err != nil || !st.Duplicate {
		t.Errorf("publish = %+v, %v; want a duplicate", st, err)
	}
	other := &jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "jetstream temporarily unavailable"}
	if _, err := (Publisher{JS: answeringJS{err: other}}).Publish(context.Background(), events.TriggerSubject("src"), ev); !errors.Is(err, other) {
		t.Errorf("publish = %v, want the server's error", err)
	}
}
