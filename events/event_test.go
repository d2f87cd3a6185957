package events

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
)

func TestNewSetsTheAttributes(t *testing.T) {
	for _, d := range fullData() {
		t.Run(d.EventType(), func(t *testing.T) {
			before := time.Now().UTC()
			e, err := New("id-1", "/regsync/test", d)
			after := time.Now().UTC()
			if err != nil {
				t.Fatalf("New() = %v", err)
			}
			for _, c := range []struct{ attr, got, want string }{
				{"specversion", e.SpecVersion(), "1.0"},
				{"id", e.ID(), "id-1"},
				{"source", e.Source(), "/regsync/test"},
				{"type", e.Type(), d.EventType()},
				{"subject", e.Subject(), d.SourceName()},
				{"datacontenttype", e.DataContentType(), "application/json"},
				{"dataschema", e.DataSchema(), "urn:regsync:schema:" + strings.TrimSuffix(schemaFiles[d.EventType()], ".json")},
			} {
				if c.got != c.want {
					t.Errorf("%s = %q, want %q", c.attr, c.got, c.want)
				}
			}
			if tm := e.Time(); tm.Before(before) || tm.After(after) || tm.Location() != time.UTC {
				t.Errorf("time = %v, want UTC between %v and %v", tm, before, after)
			}
			want, _ := json.Marshal(d)
			if string(e.Data()) != string(want) {
				t.Errorf("data = %s, want %s", e.Data(), want)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	valid := SyncRequested{Source: "toolhive", Trigger: TriggerManual}
	tests := []struct {
		name         string
		id, producer string
		data         Data
		want         string
	}{
		{"no data", "id-1", "/regsync/test", nil, "no data"},
		{"invalid data", "id-1", "/regsync/test", SyncRequested{Source: "toolhive", Trigger: "cron"}, "trigger:"},
		{"empty id", "", "/regsync/test", valid, "id: MUST be a non-empty string"},
		{"empty producer", "id-1", "", valid, "source: REQUIRED"},
		{"producer that is not a URI-reference", "id-1", "%zz", valid, `source: "%zz" is not a URI-reference`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.id, tt.producer, tt.data)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestDecodeDataReturnsWhatNewCarried(t *testing.T) {
	for _, d := range fullData() {
		t.Run(d.EventType(), func(t *testing.T) {
			e, err := New("id-1", "/regsync/test", d)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DataOf(e)
			if err != nil {
				t.Fatalf("DataOf() = %v", err)
			}
			if !reflect.DeepEqual(got, d) {
				t.Errorf("DataOf() = %#v, want %#v", got, d)
			}
		})
	}
}

// rawEvent returns an event of type typ with data as its JSON data.
func rawEvent(typ, subject, data string) event.Event {
	e := event.New()
	e.SetID("id-1")
	e.SetSource("/regsync/test")
	e.SetType(typ)
	if subject != "" {
		e.SetSubject(subject)
	}
	if data != "" {
		e.SetDataContentType(event.ApplicationJSON)
		e.DataEncoded = []byte(data)
	}
	return e
}

func TestDecodeDataRejects(t *testing.T) {
	textEvent := rawEvent(TypeSyncRequested, "", `{"source":"toolhive","trigger":"manual"}`)
	textEvent.SetDataContentType("text/plain")
	tests := []struct {
		name string
		e    event.Event
		want string
	}{
		{"other event type", rawEvent(TypeSyncCompleted, "", `{}`), `event type "io.regsync.sync.completed.v1", want "io.regsync.sync.requested.v1"`},
		{"no data", rawEvent(TypeSyncRequested, "", ""), "has no data"},
		{"data that is not JSON", textEvent, `content type "text/plain" is not JSON`},
		{"invalid JSON", rawEvent(TypeSyncRequested, "", "{\n  \"source\": \"toolhive\",\n  \"trigger\" \"manual\"}"), "invalid JSON at line 3, column 13"},
		{"field of the wrong JSON type", rawEvent(TypeSyncRequested, "", `{"source":"toolhive","trigger":7}`), `field "trigger": JSON number`},
		{"content after the object", rawEvent(TypeSyncRequested, "", `{"source":"toolhive","trigger":"manual"} {}`), "unexpected content after the JSON object"},
		{"data failing validation", rawEvent(TypeSyncRequested, "", `{"source":"toolhive","trigger":"cron"}`), `trigger: "cron" is not one of`},
		{"data that is null", rawEvent(TypeSyncRequested, "", `null`), "source: required"},
		{"subject other than the source", rawEvent(TypeSyncRequested, "other", `{"source":"toolhive","trigger":"manual"}`), `event subject "other" differs from data source "toolhive"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeData[SyncRequested](tt.e)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("DecodeData() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestDecodeDataIgnoresUnknownFields: a .v1 type may gain optional fields,
// so a reader built against an older events package still reads the event.
func TestDecodeDataIgnoresUnknownFields(t *testing.T) {
	tests := []struct {
		name string
		e    event.Event
		want Data
	}{
		{"trigger with a new top-level field", rawEvent(TypeSyncRequested, "toolhive", `{"source":"toolhive","trigger":"manual","force":true,"note":{"by":"ops"}}`),
			SyncRequested{Source: "toolhive", Trigger: TriggerManual}},
		{"webhook trigger with a new provider field", rawEvent(TypeSourceChanged, "toolhive", `{"source":"toolhive","trigger":"webhook","provider":{"name":"github","installation":42}}`),
			SourceChanged{Source: "toolhive", Trigger: TriggerWebhook, Provider: &Provider{Name: ProviderGitHub}}},
		{"result with a new diff field", rawEvent(TypeSyncSkipped, "toolhive", `{"source":"toolhive","reason":"up-to-date-no-policy","triggerCount":0,"triggerSeq":1,"startedAt":"2026-03-14T09:27:02.201Z","diff":{"renamed":[]},"shard":3}`),
			SyncSkipped{Source: "toolhive", Reason: "up-to-date-no-policy", Covered: Covered{TriggerSeq: 1, StartedAt: testStart}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DataOf(tt.e)
			if err != nil {
				t.Fatalf("DataOf() = %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("DataOf() = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestDataOfRejectsUnknownType(t *testing.T) {
	_, err := DataOf(rawEvent("com.example.other.v1", "", `{}`))
	if err == nil || !strings.Contains(err.Error(), `unknown event type "com.example.other.v1"`) {
		t.Fatalf("DataOf() = %v, want an error naming the type", err)
	}
}
