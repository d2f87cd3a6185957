package events_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	cenats "github.com/cloudevents/sdk-go/protocol/nats/v2"
	cejetstream "github.com/cloudevents/sdk-go/protocol/nats_jetstream/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"

	"github.com/regsync/regsync/events"
)

// sdkBindings are the CloudEvents Go SDK's two NATS bindings, as a consumer
// would use them to turn a received *nats.Msg into an event.
var sdkBindings = []struct {
	name string
	read func(*nats.Msg) binding.Message
	// binary reports whether the binding reads binary content mode. The
	// NATS binding reads structured mode only, as the released NATS
	// protocol binding defines; that is why regsync writes structured mode
	// by default.
	binary bool
}{
	{"protocol/nats", func(m *nats.Msg) binding.Message { return cenats.NewMessage(m) }, false},
	{"protocol/nats_jetstream", func(m *nats.Msg) binding.Message { return cejetstream.NewMessage(m) }, true},
}

// sdkEvents returns every golden event as regsync publishes it: built by
// events.New's rules and decoded from the golden file.
func sdkEvents(t *testing.T) map[string]event.Event {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden events: %v", err)
	}
	out := make(map[string]event.Event)
	for _, file := range files {
		body, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		e, err := events.Decode(nil, body)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		out[filepath.Base(file)] = e
	}
	return out
}

// TestSDKBindingsReadOurEvents decodes what Encode writes with both of the
// CloudEvents Go SDK's NATS bindings, in each content mode.
func TestSDKBindingsReadOurEvents(t *testing.T) {
	for name, want := range sdkEvents(t) {
		for _, mode := range []events.ContentMode{events.Structured, events.Binary} {
			msg, err := mode.Encode("regsync.test", want)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range sdkBindings {
				t.Run(name+"/"+string(mode)+"/"+b.name, func(t *testing.T) {
					got, err := binding.ToEvent(context.Background(), b.read(msg))
					if mode == events.Binary && !b.binary {
						if err == nil {
							t.Fatalf("the %s binding read a binary-mode event; update sdkBindings", b.name)
						}
						return
					}
					if err != nil {
						t.Fatalf("binding.ToEvent() = %v", err)
					}
					sameAttributes(t, *got, want)
					if _, err := events.DataOf(*got); err != nil && want.Source() != "cli" {
						t.Errorf("events.DataOf(SDK event) = %v", err)
					}
				})
			}
		}
	}
}

// TestDecodeReadsSDKEvents: what the SDK writes, in either mode, regsync
// reads (a consumer or tool may publish triggers with the SDK).
func TestDecodeReadsSDKEvents(t *testing.T) {
	for name, want := range sdkEvents(t) {
		for _, mode := range []struct {
			name string
			ctx  context.Context
		}{
			{"structured", binding.WithForceStructured(context.Background())},
			{"binary", binding.WithForceBinary(context.Background())},
		} {
			t.Run(name+"/"+mode.name, func(t *testing.T) {
				var body bytes.Buffer
				header, err := cejetstream.WriteMsg(mode.ctx, binding.ToMessage(&want), &body)
				if err != nil {
					t.Fatalf("SDK WriteMsg() = %v", err)
				}
				got, err := events.Decode(header, body.Bytes())
				if err != nil {
					t.Fatalf("Decode() = %v", err)
				}
				sameAttributes(t, got, want)
			})
		}
	}
}

func sameAttributes(t *testing.T, got, want event.Event) {
	t.Helper()
	for _, c := range []struct{ attr, got, want string }{
		{"specversion", got.SpecVersion(), want.SpecVersion()},
		{"id", got.ID(), want.ID()},
		{"source", got.Source(), want.Source()},
		{"type", got.Type(), want.Type()},
		{"subject", got.Subject(), want.Subject()},
		{"dataschema", got.DataSchema(), want.DataSchema()},
		{"datacontenttype", got.DataContentType(), want.DataContentType()},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.attr, c.got, c.want)
		}
	}
	if !got.Time().Equal(want.Time()) {
		t.Errorf("time = %v, want %v", got.Time(), want.Time())
	}
	var g, w any
	if err := errors.Join(json.Unmarshal(got.Data(), &g), json.Unmarshal(want.Data(), &w)); err != nil {
		t.Fatalf("data: %v", err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("data = %s, want %s", got.Data(), want.Data())
	}
}
