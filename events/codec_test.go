package events

import (
	"bytes"
	"encoding/base64"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
	"github.com/nats-io/nats.go"
)

// testSource is the source attribute of the events the tests build.
var testSource = ProducerSource("k7c2m9q4x1z8v3b6n5w0t2r7y4", ProducerCLI)

// subjectFor returns the NATS subject an event with data d is published on.
func subjectFor(d Data) string {
	if outcome := OutcomeOf(d.EventType()); outcome != "" {
		return ResultSubject(d.SourceName(), outcome)
	}
	return TriggerSubject(d.SourceName())
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for _, mode := range []ContentMode{Structured, Binary} {
		for _, d := range fullData() {
			t.Run(string(mode)+"/"+d.EventType(), func(t *testing.T) {
				e, err := New("wh-github-72d3162e-toolhive", testSource, d)
				if err != nil {
					t.Fatal(err)
				}
				msg, err := mode.Encode(subjectFor(d), e)
				if err != nil {
					t.Fatalf("Encode() = %v", err)
				}
				if msg.Subject != subjectFor(d) {
					t.Errorf("subject = %q, want %q", msg.Subject, subjectFor(d))
				}
				got, err := Decode(msg.Header, msg.Data)
				if err != nil {
					t.Fatalf("Decode() = %v", err)
				}
				assertSameEvent(t, got, e)
				data, err := DataOf(got)
				if err != nil {
					t.Fatalf("DataOf() = %v", err)
				}
				if !reflect.DeepEqual(data, d) {
					t.Errorf("data = %#v, want %#v", data, d)
				}
			})
		}
	}
}

func assertSameEvent(t *testing.T, got, want event.Event) {
	t.Helper()
	for _, c := range []struct{ attr, got, want string }{
		{"specversion", got.SpecVersion(), want.SpecVersion()},
		{"id", got.ID(), want.ID()},
		{"source", got.Source(), want.Source()},
		{"type", got.Type(), want.Type()},
		{"subject", got.Subject(), want.Subject()},
		{"datacontenttype", got.DataContentType(), want.DataContentType()},
		{"dataschema", got.DataSchema(), want.DataSchema()},
		{"data", string(got.Data()), string(want.Data())},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.attr, c.got, c.want)
		}
	}
	if !got.Time().Equal(want.Time()) {
		t.Errorf("time = %v, want %v", got.Time(), want.Time())
	}
	if !reflect.DeepEqual(got.Extensions(), want.Extensions()) {
		t.Errorf("extensions = %v, want %v", got.Extensions(), want.Extensions())
	}
}

func TestEncodeWritesStructuredModeByDefault(t *testing.T) {
	d := SyncRequested{Source: "toolhive", Trigger: TriggerManual}
	e, err := New("req-1-toolhive", testSource, d)
	if err != nil {
		t.Fatal(err)
	}
	e.SetTime(mustTime(t, "2026-03-14T09:31:45.77Z"))
	e.SetExtension("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	for _, encode := range []struct {
		name string
		fn   func(string, event.Event) (*nats.Msg, error)
	}{{"Encode", Encode}, {"Structured.Encode", Structured.Encode}, {"empty mode", ContentMode("").Encode}} {
		t.Run(encode.name, func(t *testing.T) {
			msg, err := encode.fn(TriggerSubject("toolhive"), e)
			if err != nil {
				t.Fatal(err)
			}
			want := nats.Header{
				"Content-Type": {ContentTypeStructured},
				"Nats-Msg-Id":  {"req-1-toolhive"},
			}
			if !reflect.DeepEqual(msg.Header, want) {
				t.Errorf("header = %v\nwant %v", msg.Header, want)
			}
			wantBody := `{"datacontenttype":"application/json","dataschema":"urn:regsync:schema:sync-requested.v1",` +
				`"id":"req-1-toolhive","source":"` + testSource + `","specversion":"1.0","subject":"toolhive",` +
				`"time":"2026-03-14T09:31:45.77Z","traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",` +
				`"type":"io.regsync.sync.requested.v1","data":{"source":"toolhive","trigger":"manual"}}`
			if string(msg.Data) != wantBody {
				t.Errorf("body = %s\nwant %s", msg.Data, wantBody)
			}
		})
	}
}

func TestEncodeStructuredData(t *testing.T) {
	tests := []struct {
		name, contentType, data string
		base64                  bool
		want                    string
	}{
		{"JSON inline, byte for byte", "application/json", "{ \"a\": [1, 2] }", false, `"data":{ "a": [1, 2] }`},
		{"+json inline", "application/vnd.x+json; charset=utf-8", `[1]`, false, `"data":[1]`},
		{"text as a JSON string", "text/plain", "café \"x\"\n", false, `"data":"café \"x\"\n"`},
		{"binary as data_base64", "application/octet-stream", "\xff\x00", false, `"data_base64":"/wA="`},
		{"no content type as data_base64", "", `{"a":1}`, false, `"data_base64":"eyJhIjoxfQ=="`},
		{"base64 kept as base64", "application/json", `{"a":1}`, true, `"data_base64":"eyJhIjoxfQ=="`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := rawEvent(TypeSyncRequested, "toolhive", "")
			if tt.contentType != "" {
				e.SetDataContentType(tt.contentType)
			}
			e.DataEncoded, e.DataBase64 = []byte(tt.data), tt.base64
			msg, err := Encode("s", e)
			if err != nil {
				t.Fatalf("Encode() = %v", err)
			}
			if !strings.HasSuffix(string(msg.Data), ","+tt.want+"}") {
				t.Errorf("body = %s, want it to end with %s", msg.Data, tt.want)
			}
			got, err := Decode(msg.Header, msg.Data)
			if err != nil {
				t.Fatalf("Decode() = %v", err)
			}
			if string(got.Data()) != tt.data {
				t.Errorf("decoded data = %q, want %q", got.Data(), tt.data)
			}
		})
	}
}

func TestEncodeBinaryMode(t *testing.T) {
	d := SyncRequested{Source: "toolhive", Trigger: TriggerManual}
	e, err := New("req-1-toolhive", testSource, d)
	if err != nil {
		t.Fatal(err)
	}
	e.SetExtension("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	msg, err := Binary.Encode(TriggerSubject("toolhive"), e)
	if err != nil {
		t.Fatal(err)
	}
	want := nats.Header{
		"ce-specversion":     {"1.0"},
		"ce-id":              {"req-1-toolhive"},
		"ce-source":          {testSource},
		"ce-type":            {TypeSyncRequested},
		"ce-subject":         {"toolhive"},
		"ce-time":            {types.FormatTime(e.Time())},
		"ce-datacontenttype": {"application/json"},
		"ce-dataschema":      {"urn:regsync:schema:sync-requested.v1"},
		"ce-traceparent":     {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
		"Content-Type":       {"application/json"},
		"Nats-Msg-Id":        {"req-1-toolhive"},
	}
	if !reflect.DeepEqual(msg.Header, want) {
		t.Errorf("header = %v\nwant %v", msg.Header, want)
	}
	if got := msg.Header.Get(nats.MsgIdHdr); got != e.ID() {
		t.Errorf("Nats-Msg-Id = %q, want the event id %q", got, e.ID())
	}
	if !bytes.Equal(msg.Data, e.Data()) {
		t.Errorf("body = %s, want the data %s", msg.Data, e.Data())
	}
}

func TestParseContentMode(t *testing.T) {
	for in, want := range map[string]ContentMode{"": Structured, "structured": Structured, "binary": Binary} {
		if got, err := ParseContentMode(in); err != nil || got != want {
			t.Errorf("ParseContentMode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"Binary", "json", "batch"} {
		if _, err := ParseContentMode(in); err == nil || !strings.Contains(err.Error(), in) {
			t.Errorf("ParseContentMode(%q) = %v, want an error naming it", in, err)
		}
	}
	if _, err := ContentMode("batch").Encode("s", rawEvent(TypeSyncRequested, "", `{}`)); err == nil || !strings.Contains(err.Error(), `unknown content mode "batch"`) {
		t.Errorf("Encode in an unknown mode = %v", err)
	}
}

func TestEncodeRejects(t *testing.T) {
	valid, err := New("id-1", "/regsync/test", SyncRequested{Source: "toolhive", Trigger: TriggerManual})
	if err != nil {
		t.Fatal(err)
	}
	noID := valid.Clone()
	noID.SetID("")
	multiline := valid.Clone()
	multiline.SetSubject("tool\nhive")
	huge := valid.Clone()
	huge.DataEncoded = bytes.Repeat([]byte(" "), MaxEventSize+1)
	old := valid.Clone()
	old.SetSpecVersion(event.CloudEventsVersionV03)
	badJSON := valid.Clone()
	badJSON.DataEncoded = []byte("{,}")

	tests := []struct {
		name    string
		subject string
		e       event.Event
		want    string
	}{
		{"empty subject", "", valid, "empty subject"},
		{"event without context", "s", event.Event{}, "invalid event: specversion"},
		{"event without id", "s", noID, "invalid event: id:"},
		{"control character in an attribute", "s", multiline, "attribute subject: control character U+000A"},
		{"data over the size limit", "s", huge, "data is 1048577 bytes, more than the 1048576 allowed"},
		{"JSON data that is not JSON", "s", badJSON, "data: invalid JSON at line 1, column 2"},
		{"specversion other than 1.0", "s", old, `specversion: unsupported "0.3"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Encode(tt.subject, tt.e)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Encode() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestPercentEncodingRoundTrip(t *testing.T) {
	tests := []struct {
		value, encoded string
	}{
		{`café "x" 100%`, `caf%C3%A9%20%22x%22%20100%25`},
		{"Euro € 😀", "Euro%20%E2%82%AC%20%F0%9F%98%80"},
		{"plain/ascii:~!#&'()*+,;=?@[]", "plain/ascii:~!#&'()*+,;=?@[]"},
		{"tab\tand DEL\x7f", "tab%09and%20DEL%7F"},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			if got := percentEncode(tt.value); got != tt.encoded {
				t.Errorf("percentEncode(%q) = %q, want %q", tt.value, got, tt.encoded)
			}
		})
	}

	t.Run("attributes and extensions through Encode and Decode", func(t *testing.T) {
		e := rawEvent(TypeSyncRequested, `café "x" 100%`, `{"source":"toolhive","trigger":"manual"}`)
		e.SetID(`id with "quotes" and 50%`)
		e.SetExtension("comment", "naïve ✓ 100% \"done\"")
		msg, err := Binary.Encode("regsync.trigger.toolhive", e)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := msg.Header.Get("ce-subject"), "caf%C3%A9%20%22x%22%20100%25"; got != want {
			t.Errorf("ce-subject = %q, want %q", got, want)
		}
		for name, values := range msg.Header {
			for _, v := range values {
				for _, c := range []byte(v) {
					if c <= ' ' || c >= 0x7f || c == '"' {
						t.Errorf("header %s = %q has byte %q that is not printable ASCII", name, v, c)
					}
				}
			}
		}
		got, err := Decode(msg.Header, msg.Data)
		if err != nil {
			t.Fatalf("Decode() = %v", err)
		}
		assertSameEvent(t, got, e)
	})
}

func TestDecodeHeaderValue(t *testing.T) {
	tests := []struct {
		name, in, want, wantErr string
	}{
		{"plain", "toolhive", "toolhive", ""},
		{"lower-case hex", "caf%c3%a9", "café", ""},
		{"needlessly encoded", "%41%42c", "ABc", ""},
		{"quoted string", `"hello world"`, "hello world", ""},
		{"quoted string with escapes", `"say \"hi\" \\o/"`, `say "hi" \o/`, ""},
		{"quoted part", `a" b "c`, "a b c", ""},
		{"raw UTF-8", "café", "café", ""},
		{"overlong encoding", "%C0%A0", "", "not valid UTF-8"},
		{"truncated UTF-8", "%E2%82", "", "not valid UTF-8"},
		{"bad hex", "100%zz", "", "bad percent-encoding at byte 3"},
		{"truncated escape", "100%4", "", "bad percent-encoding at byte 3"},
		{"lone percent", "%", "", "bad percent-encoding at byte 0"},
		{"unterminated quote", `"abc`, "", "unterminated quoted string"},
		{"escape at the end", `"abc\`, "", "unterminated quoted string"},
		{"encoded NUL", "a%00b", "", "control character U+0000"},
		{"encoded newline", "a%0Ab", "", "control character U+000A"},
		{"encoded C1 control", "a%C2%85b", "", "control character U+0085"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeHeaderValue(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("decodeHeaderValue(%q) = %q, %v; want an error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("decodeHeaderValue(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

// natsPubExample is the structured event of the contract's `nats pub` example.
const natsPubExample = `{"specversion":"1.0","type":"io.regsync.sync.requested.v1","source":"cli","id":"req-1","data":{"source":"toolhive","trigger":"manual"}}`

func TestDecodeStructured(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString([]byte(`{"source":"toolhive","trigger":"manual"}`))
	tests := []struct {
		name   string
		header nats.Header
		body   string
	}{
		{"no headers, as nats pub sends it", nil, natsPubExample},
		{"empty header", nats.Header{}, natsPubExample},
		{"only other headers", nats.Header{"Nats-Msg-Id": {"req-1"}}, natsPubExample},
		{"structured content type", nats.Header{"Content-Type": {ContentTypeStructured}}, natsPubExample},
		{"content type with parameters and other case", nats.Header{"content-type": {"Application/CloudEvents+JSON; charset=utf-8"}}, natsPubExample},
		{"structured content type wins over ce headers", nats.Header{"Content-Type": {ContentTypeStructured}, "ce-specversion": {"0.3"}}, natsPubExample},
		{"leading whitespace", nil, "\n  " + natsPubExample + "\n"},
		{"data_base64", nil, `{"specversion":"1.0","type":"io.regsync.sync.requested.v1","source":"cli","id":"req-1","datacontenttype":"application/json","data_base64":"` + b64 + `"}`},
		{"data before specversion, null attributes", nil, `{"data":{"source":"toolhive","trigger":"manual"},"subject":null,"id":"req-1","type":"io.regsync.sync.requested.v1","source":"cli","specversion":"1.0","dataschema":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Decode(tt.header, []byte(tt.body))
			if err != nil {
				t.Fatalf("Decode() = %v", err)
			}
			if e.ID() != "req-1" || e.Source() != "cli" || e.Type() != TypeSyncRequested {
				t.Errorf("event = %s", e)
			}
			d, err := DecodeData[SyncRequested](e)
			if err != nil {
				t.Fatalf("DecodeData() = %v", err)
			}
			if want := (SyncRequested{Source: "toolhive", Trigger: TriggerManual}); d != want {
				t.Errorf("data = %+v, want %+v", d, want)
			}
		})
	}
}

func TestDecodeStructuredReadsEveryAttribute(t *testing.T) {
	body := `{
		"specversion": "1.0", "type": "io.regsync.sync.requested.v1", "source": "/regsync/cli",
		"id": "req-2", "subject": "toolhive", "time": "2026-03-14T09:31:45.77+01:00",
		"datacontenttype": "application/json", "dataschema": "https://regsync.io/schemas/sync-requested.v1.json",
		"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "retry": true, "priority": 3,
		"data": {"source": "toolhive", "trigger": "manual", "requestId": "req-2"}
	}`
	e, err := Decode(nil, []byte(body))
	if err != nil {
		t.Fatalf("Decode() = %v", err)
	}
	want := rawEvent(TypeSyncRequested, "toolhive", `{"source": "toolhive", "trigger": "manual", "requestId": "req-2"}`)
	want.SetID("req-2")
	want.SetSource("/regsync/cli")
	want.SetTime(mustTime(t, "2026-03-14T08:31:45.77Z"))
	want.SetDataSchema("https://regsync.io/schemas/sync-requested.v1.json")
	want.SetExtension("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	want.SetExtension("retry", "true")
	want.SetExtension("priority", "3")
	assertSameEvent(t, e, want)

	t.Run("and Encode carries it on in binary mode", func(t *testing.T) {
		msg, err := Binary.Encode(TriggerSubject("toolhive"), e)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Decode(msg.Header, msg.Data)
		if err != nil {
			t.Fatal(err)
		}
		assertSameEvent(t, again, want)
	})
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestDecodeBinary(t *testing.T) {
	base := func() nats.Header {
		return nats.Header{
			"ce-specversion": {"1.0"},
			"ce-id":          {"req-1-toolhive"},
			"ce-source":      {"/regsync/cli"},
			"ce-type":        {TypeSyncRequested},
		}
	}
	body := []byte(`{"source":"toolhive","trigger":"manual"}`)

	t.Run("header names in any case", func(t *testing.T) {
		h := nats.Header{"CE-SpecVersion": {"1.0"}, "Ce-Id": {"x"}, "CE-SOURCE": {"cli"}, "ce-Type": {TypeSyncRequested}, "content-TYPE": {"application/json"}}
		e, err := Decode(h, body)
		if err != nil {
			t.Fatalf("Decode() = %v", err)
		}
		if e.ID() != "x" || e.Source() != "cli" || e.DataContentType() != "application/json" {
			t.Errorf("event = %s", e)
		}
	})
	t.Run("content type from Content-Type alone", func(t *testing.T) {
		h := base()
		h.Set("Content-Type", "application/json")
		e, err := Decode(h, body)
		if err != nil || e.DataContentType() != "application/json" {
			t.Fatalf("Decode() = %v, %v; want datacontenttype application/json", e.DataContentType(), err)
		}
	})
	t.Run("ce-datacontenttype over Content-Type", func(t *testing.T) {
		h := base()
		h.Set("Content-Type", "text/plain")
		h.Set("ce-datacontenttype", "application/json")
		e, err := Decode(h, body)
		if err != nil || e.DataContentType() != "application/json" {
			t.Fatalf("Decode() = %v, %v; want datacontenttype application/json", e.DataContentType(), err)
		}
	})
	t.Run("no body is no data", func(t *testing.T) {
		e, err := Decode(base(), nil)
		if err != nil || e.Data() != nil {
			t.Fatalf("Decode() = data %q, %v; want no data", e.Data(), err)
		}
	})
	t.Run("other headers ignored", func(t *testing.T) {
		h := base()
		h.Set("Nats-Msg-Id", "req-1-toolhive")
		h.Set("Nats-Expected-Stream", StreamTriggers)
		h.Set("X-Other", "a b")
		if _, err := Decode(h, body); err != nil {
			t.Fatalf("Decode() = %v", err)
		}
	})
}

func TestDecodeRejects(t *testing.T) {
	binary := func(change func(nats.Header)) nats.Header {
		h := nats.Header{
			"ce-specversion": {"1.0"},
			"ce-id":          {"req-1-toolhive"},
			"ce-source":      {"/regsync/cli"},
			"ce-type":        {TypeSyncRequested},
			"Content-Type":   {"application/json"},
		}
		change(h)
		return h
	}
	structured := func(replace ...string) string {
		return strings.NewReplacer(replace...).Replace(natsPubExample)
	}
	data := `{"source":"toolhive","trigger":"manual"}`
	tooBig := `{"specversion":"1.0","type":"t","source":"s","id":"i","data":"` + strings.Repeat("x", MaxEventSize) + `"}`

	tests := []struct {
		name   string
		header nats.Header
		body   string
		want   string
	}{
		{"structured body over the size limit", nil, tooBig, "body is 1048640 bytes, more than the 1048576 allowed"},
		{"binary body over the size limit", binary(func(nats.Header) {}), strings.Repeat(" ", MaxEventSize+1), "body is 1048577 bytes, more than the 1048576 allowed"},

		{"binary without ce-id", binary(func(h nats.Header) { h.Del("ce-id") }), data, "header ce-id: missing"},
		{"binary without ce-source", binary(func(h nats.Header) { h.Del("ce-source") }), data, "header ce-source: missing"},
		{"binary without ce-type", binary(func(h nats.Header) { h.Del("ce-type") }), data, "header ce-type: missing"},
		{"binary with empty ce-id", binary(func(h nats.Header) { h.Set("ce-id", "") }), data, "header ce-id: missing"},
		{"binary with unknown specversion", binary(func(h nats.Header) { h.Set("ce-specversion", "0.3") }), data, `header ce-specversion: unknown specversion "0.3"`},
		{"binary with a bad time", binary(func(h nats.Header) { h.Set("ce-time", "yesterday") }), data, `header ce-time: "yesterday" is not an RFC 3339 time`},
		{"binary with a source that is no URI-reference", binary(func(h nats.Header) { h.Set("ce-source", "%25zz") }), data, `header ce-source: "%zz" is not a URI-reference`},
		{"binary with a bad data schema", binary(func(h nats.Header) { h.Set("ce-dataschema", "%25zz") }), data, `header ce-dataschema: "%zz" is not a URI`},
		{"binary with a bad media type", binary(func(h nats.Header) { h.Set("ce-datacontenttype", "no%20type") }), data, "invalid event: datacontenttype:"},
		{"binary with a bad extension name", binary(func(h nats.Header) { h.Set("ce-trace_id", "x") }), data, `header ce-trace_id: "trace_id" is not a valid extension name`},
		{"binary with an empty attribute name", binary(func(h nats.Header) { h.Set("ce-", "x") }), data, `header ce-: "" is not a valid extension name`},
		{"binary with bad percent-encoding", binary(func(h nats.Header) { h.Set("ce-subject", "100%") }), data, "header ce-subject: bad percent-encoding"},
		{"binary with an overlong encoding", binary(func(h nats.Header) { h.Set("ce-subject", "%C0%A0") }), data, "header ce-subject: not valid UTF-8"},
		{"binary with a header given twice", binary(func(h nats.Header) { h.Add("ce-id", "other") }), data, "header ce-id: given more than once"},
		{"binary with a header in two cases", binary(func(h nats.Header) { h.Set("CE-ID", "other") }), data, "given more than once"},
		{"binary with invalid JSON data", binary(func(nats.Header) {}), `{"source":"toolhive",}`, "data: invalid JSON at line 1, column 22"},

		{"empty body without headers", nil, "", "no ce-specversion header and the body is not a JSON object"},
		{"array body without headers", nil, `[` + natsPubExample + `]`, "no ce-specversion header and the body is not a JSON object"},
		{"plain text without headers", nil, "sync toolhive please", "no ce-specversion header and the body is not a JSON object"},
		{"JSON data content type without ce headers", nats.Header{"Content-Type": {"application/json"}}, natsPubExample, `no ce-specversion header, and content type "application/json" is not application/cloudevents+json`},
		{"batch content type", nats.Header{"Content-Type": {"application/cloudevents-batch+json"}}, `[` + natsPubExample + `]`, "is not a supported event format"},
		{"structured array", nats.Header{"Content-Type": {ContentTypeStructured}}, `[1]`, "structured event: body is not a JSON object"},
		{"structured invalid JSON", nil, "{\"specversion\":\"1.0\",\n\"id\":\"req-1\" \"type\":\"x\"}", "structured event: invalid JSON at line 2, column 14"},
		{"structured truncated JSON", nil, natsPubExample[:40], "structured event: invalid JSON"},
		{"structured without specversion", nil, structured(`"specversion":"1.0",`, ""), "attribute specversion: missing"},
		{"structured with unknown specversion", nil, structured(`"1.0"`, `"0.3"`), `attribute specversion: unknown specversion "0.3"`},
		{"structured with numeric specversion", nil, structured(`"1.0"`, `1.0`), "attribute specversion: not a JSON string"},
		{"structured without id", nil, structured(`"id":"req-1",`, ""), "attribute id: missing"},
		{"structured with null id", nil, structured(`"req-1"`, "null"), "attribute id: missing"},
		{"structured without source", nil, structured(`"source":"cli",`, ""), "attribute source: missing"},
		{"structured without type", nil, structured(`"type":"io.regsync.sync.requested.v1",`, ""), "attribute type: missing"},
		{"structured with a numeric subject", nil, structured(`"id"`, `"subject":7,"id"`), "attribute subject: not a JSON string"},
		{"structured with a control character", nil, structured(`"cli"`, `"c\nli"`), "attribute source: control character U+000A"},
		{"structured with a bad time", nil, structured(`"id"`, `"time":"2026-13-01T00:00:00Z","id"`), `attribute time: "2026-13-01T00:00:00Z" is not an RFC 3339 time`},
		{"structured with an object extension", nil, structured(`"id"`, `"meta":{"a":1},"id"`), "attribute meta: not a string, boolean or integer"},
		{"structured with a fractional extension", nil, structured(`"id"`, `"weight":1.5,"id"`), "attribute weight: 1.5 is not a CloudEvents integer"},
		{"structured with an extension out of range", nil, structured(`"id"`, `"big":4294967296,"id"`), "attribute big: 4294967296 is not a CloudEvents integer"},
		{"structured with an upper-case extension", nil, structured(`"id"`, `"traceParent":"x","id"`), `attribute traceParent: "traceParent" is not a valid extension name`},
		{"structured with data and data_base64", nil, structured(`"data"`, `"data_base64":"e30=","data"`), "both data and data_base64 are present"},
		{"structured with bad base64", nil, structured(`"data":{"source":"toolhive","trigger":"manual"}`, `"data_base64":"not base64!"`), "data_base64: illegal base64 data at input byte 3"},
		{"structured with numeric base64", nil, structured(`"data":{"source":"toolhive","trigger":"manual"}`, `"data_base64":5`), "data_base64: not a JSON string"},
		{"structured with base64 of invalid JSON", nil, structured(`"data":{"source":"toolhive","trigger":"manual"}`, `"datacontenttype":"application/json","data_base64":"eyJh"`), "data: invalid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.header, []byte(tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Decode() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
