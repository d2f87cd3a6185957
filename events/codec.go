package events

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"mime"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
	"github.com/nats-io/nats.go"
)

// MaxEventSize is the largest message body, in bytes, that Decode accepts
// and Encode produces.
const MaxEventSize = 1 << 20

// ContentTypeStructured is the content type of a structured-mode message.
const ContentTypeStructured = "application/cloudevents+json"

const headerPrefix = "ce-"

// ContentMode is how an event travels on NATS, as the CloudEvents NATS
// protocol binding defines the two modes.
type ContentMode string

const (
	// Structured mode: the message body is the whole event in the JSON event
	// format and the Content-Type header is application/cloudevents+json.
	// Every CloudEvents SDK reads it. It is regsync's default.
	Structured ContentMode = "structured"
	// Binary mode: the attributes are ce-* headers and the body is the data.
	Binary ContentMode = "binary"
)

// ParseContentMode returns the content mode named s: "structured" or
// "binary"; "" is Structured.
func ParseContentMode(s string) (ContentMode, error) {
	switch ContentMode(s) {
	case "", Structured:
		return Structured, nil
	case Binary:
		return Binary, nil
	}
	return "", fmt.Errorf("content mode %q: want %s or %s", s, Structured, Binary)
}

// Encode returns a NATS message for subject that carries e in the content
// mode m (Structured when m is empty). Either way the Nats-Msg-Id header is
// the event id (percent-encoded like ce-id, which leaves ordinary ids as
// they are), so JetStream drops a repeat of the same event. e must be a
// valid CloudEvents 1.0 event whose message body is at most MaxEventSize
// bytes.
func (m ContentMode) Encode(subject string, e event.Event) (*nats.Msg, error) {
	if subject == "" {
		return nil, errors.New("encode event: empty subject")
	}
	if err := validateEvent(e); err != nil {
		return nil, fmt.Errorf("encode event: %w", err)
	}
	if len(e.Data()) > MaxEventSize {
		return nil, fmt.Errorf("encode event %q: data is %d bytes, more than the %d allowed", e.ID(), len(e.Data()), MaxEventSize)
	}
	attrs, err := attributes(e)
	if err != nil {
		return nil, fmt.Errorf("encode event %q: %w", e.ID(), err)
	}
	var msg *nats.Msg
	switch m {
	case "", Structured:
		msg, err = encodeStructured(subject, e, attrs)
	case Binary:
		msg = encodeBinary(subject, e, attrs)
	default:
		return nil, fmt.Errorf("encode event %q: unknown content mode %q", e.ID(), m)
	}
	if err != nil {
		return nil, fmt.Errorf("encode event %q: %w", e.ID(), err)
	}
	if len(msg.Data) > MaxEventSize {
		return nil, fmt.Errorf("encode event %q: message body is %d bytes, more than the %d allowed", e.ID(), len(msg.Data), MaxEventSize)
	}
	msg.Header.Set(nats.MsgIdHdr, percentEncode(e.ID()))
	return msg, nil
}

// Encode returns a NATS message for subject that carries e in structured
// content mode (see ContentMode.Encode): the body is the event in the JSON
// event format, with JSON data inline in "data", and the Content-Type header
// is application/cloudevents+json.
func Encode(subject string, e event.Event) (*nats.Msg, error) {
	return Structured.Encode(subject, e)
}

// attributes returns the string form of every context attribute and
// extension of e that is set, by name, and checks that CloudEvents allows
// each value.
func attributes(e event.Event) (map[string]string, error) {
	attrs := map[string]string{
		"specversion": e.SpecVersion(),
		"id":          e.ID(),
		"source":      e.Source(),
		"type":        e.Type(),
	}
	optional := map[string]string{
		"subject":         e.Subject(),
		"dataschema":      e.DataSchema(),
		"datacontenttype": e.DataContentType(),
	}
	if !e.Time().IsZero() {
		optional["time"] = types.FormatTime(e.Time())
	}
	for name, v := range optional {
		if v != "" {
			attrs[name] = v
		}
	}
	for name, v := range e.Extensions() {
		s, err := types.Format(v)
		if err != nil {
			return nil, fmt.Errorf("extension %s: %w", name, err)
		}
		attrs[name] = s
	}
	for _, name := range slices.Sorted(maps.Keys(attrs)) {
		if err := checkAttributeValue(attrs[name]); err != nil {
			return nil, fmt.Errorf("attribute %s: %w", name, err)
		}
	}
	return attrs, nil
}

// encodeStructured writes e in the JSON event format: the attributes as
// JSON strings, JSON data inline in "data" byte for byte, text data as a
// JSON string in "data", and any other data (or data without a content
// type, or data that came base64-encoded) in "data_base64".
func encodeStructured(subject string, e event.Event, attrs map[string]string) (*nats.Msg, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, name := range slices.Sorted(maps.Keys(attrs)) {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(&b, name)
		b.WriteByte(':')
		writeJSONString(&b, attrs[name])
	}
	if data := e.Data(); len(data) > 0 {
		mt := e.DataMediaType()
		switch {
		case e.DataBase64 || mt == "" || !utf8.Valid(data):
			b.WriteString(`,"data_base64":"`)
			b.WriteString(base64.StdEncoding.EncodeToString(data))
			b.WriteByte('"')
		case isJSON(mt):
			if !json.Valid(data) {
				return nil, fmt.Errorf("data: %w", describeJSONError(data, json.Unmarshal(data, new(any))))
			}
			b.WriteString(`,"data":`)
			b.Write(data)
		default:
			b.WriteString(`,"data":`)
			writeJSONString(&b, string(data))
		}
	}
	b.WriteByte('}')
	msg := nats.NewMsg(subject)
	msg.Header.Set("Content-Type", ContentTypeStructured)
	msg.Data = b.Bytes()
	return msg, nil
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s) // a string always encodes
	b.Write(enc)
}

// encodeBinary writes every context attribute and extension as a
// ce-<name> header, percent-encoded, and the data as the body; the
// Content-Type header (and ce-datacontenttype) carry the data content type.
func encodeBinary(subject string, e event.Event, attrs map[string]string) *nats.Msg {
	msg := nats.NewMsg(subject)
	for name, v := range attrs {
		msg.Header.Set(headerPrefix+name, percentEncode(v))
	}
	if ct := attrs["datacontenttype"]; ct != "" {
		msg.Header.Set("Content-Type", ct)
	}
	msg.Data = e.Data()
	return msg
}

// Decode reads a CloudEvent from a NATS message's header and body, in either
// content mode of the CloudEvents NATS protocol binding:
//
//   - structured, when the Content-Type header is
//     application/cloudevents+json, or when there is no Content-Type and no
//     ce-specversion header (as with a plain `nats pub`) and the body is a
//     JSON object: the body is the whole event in the JSON event format,
//     with its data in "data" or "data_base64";
//   - binary, when a ce-specversion header is present: the attributes are
//     the percent-encoded ce-* headers and the body is the data.
//
// It takes the header and body rather than a message so that both a
// *nats.Msg (m.Header, m.Data) and a jetstream.Msg (m.Headers(), m.Data())
// can use it. A body over MaxEventSize, a missing required attribute, an
// unknown specversion, malformed JSON and an event that fails CloudEvents
// validation are errors naming the problem.
func Decode(header nats.Header, data []byte) (event.Event, error) {
	if len(data) > MaxEventSize {
		return event.Event{}, fmt.Errorf("decode event: body is %d bytes, more than the %d allowed", len(data), MaxEventSize)
	}
	h, err := lowerHeader(header)
	if err != nil {
		return event.Event{}, fmt.Errorf("decode event: %w", err)
	}
	ct := h["content-type"]
	_, hasSpecVersion := h["ce-specversion"]
	var e event.Event
	switch mt, _, _ := mime.ParseMediaType(ct); {
	case strings.HasPrefix(strings.ToLower(ct), "application/cloudevents"):
		if mt != "application/cloudevents+json" && mt != "application/cloudevents" {
			return event.Event{}, fmt.Errorf("decode event: content type %q is not a supported event format (want %s)", ct, ContentTypeStructured)
		}
		e, err = decodeStructured(data)
	case hasSpecVersion:
		e, err = decodeBinary(h, data)
	case ct == "":
		if trimmed := bytes.TrimSpace(data); len(trimmed) == 0 || trimmed[0] != '{' {
			return event.Event{}, errors.New("decode event: no ce-specversion header and the body is not a JSON object")
		}
		e, err = decodeStructured(data)
	default:
		return event.Event{}, fmt.Errorf("decode event: no ce-specversion header, and content type %q is not %s", ct, ContentTypeStructured)
	}
	if err != nil {
		return event.Event{}, fmt.Errorf("decode event: %w", err)
	}
	if mt := e.DataMediaType(); len(e.Data()) > 0 && (mt == "" || isJSON(mt)) && !json.Valid(e.Data()) {
		return event.Event{}, fmt.Errorf("decode event %q: data: %w", e.ID(), describeJSONError(e.Data(), json.Unmarshal(e.Data(), new(any))))
	}
	if err := validateEvent(e); err != nil {
		return event.Event{}, fmt.Errorf("decode event: %w", err)
	}
	return e, nil
}

// lowerHeader returns the values of the ce-* headers, percent-decoded, and
// of the Content-Type header, as they are, by lower-cased name. Header names
// are case-insensitive; a name given twice is an error.
func lowerHeader(header nats.Header) (map[string]string, error) {
	h := make(map[string]string)
	for _, name := range slices.Sorted(maps.Keys(header)) {
		lower := strings.ToLower(name)
		if lower != "content-type" && !strings.HasPrefix(lower, headerPrefix) {
			continue
		}
		values := header[name]
		if _, dup := h[lower]; dup || len(values) > 1 {
			return nil, fmt.Errorf("header %s: given more than once", name)
		}
		if len(values) == 0 {
			continue
		}
		if lower == "content-type" {
			h[lower] = values[0]
			continue
		}
		v, err := decodeHeaderValue(values[0])
		if err != nil {
			return nil, fmt.Errorf("header %s: %w", name, err)
		}
		h[lower] = v
	}
	return h, nil
}

func decodeBinary(h map[string]string, data []byte) (event.Event, error) {
	attrs := make(map[string]string)
	for name, v := range h {
		if attr, ok := strings.CutPrefix(name, headerPrefix); ok {
			attrs[attr] = v
		}
	}
	if _, ok := attrs["datacontenttype"]; !ok && h["content-type"] != "" {
		attrs["datacontenttype"] = h["content-type"]
	}
	e, err := fromAttributes(attrs, "header "+headerPrefix)
	if err != nil {
		return event.Event{}, err
	}
	if len(data) > 0 {
		e.DataEncoded = bytes.Clone(data)
	}
	return e, nil
}

func decodeStructured(data []byte) (event.Event, error) {
	if !json.Valid(data) {
		return event.Event{}, fmt.Errorf("structured event: %w", describeJSONError(data, json.Unmarshal(data, new(any))))
	}
	var fields map[string]json.RawMessage
	if trimmed := bytes.TrimSpace(data); trimmed[0] != '{' || json.Unmarshal(trimmed, &fields) != nil {
		return event.Event{}, errors.New("structured event: body is not a JSON object")
	}
	attrs := make(map[string]string)
	for name, raw := range fields {
		if name == "data" || name == "data_base64" || string(raw) == "null" {
			continue
		}
		v, err := attributeValue(name, raw)
		if err != nil {
			return event.Event{}, fmt.Errorf("attribute %s: %w", name, err)
		}
		attrs[name] = v
	}
	e, err := fromAttributes(attrs, "attribute ")
	if err != nil {
		return event.Event{}, err
	}

	raw, hasData := fields["data"]
	raw64, hasData64 := fields["data_base64"]
	switch {
	case hasData && hasData64:
		return event.Event{}, errors.New("structured event: both data and data_base64 are present")
	case hasData64 && string(raw64) != "null":
		var s string
		if err := json.Unmarshal(raw64, &s); err != nil {
			return event.Event{}, errors.New("data_base64: not a JSON string")
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return event.Event{}, fmt.Errorf("data_base64: %w", err)
		}
		e.DataEncoded, e.DataBase64 = b, true
	case hasData && string(raw) != "null":
		mt := e.DataMediaType()
		if mt == "" {
			// The JSON event format: data without a content type is JSON.
			e.SetDataContentType(event.ApplicationJSON)
			mt = event.ApplicationJSON
		}
		var s string
		if !isJSON(mt) && json.Unmarshal(raw, &s) == nil {
			e.DataEncoded = []byte(s)
		} else {
			e.DataEncoded = bytes.Clone(raw)
		}
	}
	return e, nil
}

// fromAttributes builds an event from the string forms of its attributes
// and extensions, by name. label prefixes an attribute's name in errors.
func fromAttributes(attrs map[string]string, label string) (event.Event, error) {
	for _, name := range []string{"specversion", "id", "source", "type"} {
		if attrs[name] == "" {
			return event.Event{}, fmt.Errorf("%s%s: missing", label, name)
		}
	}
	if sv := attrs["specversion"]; sv != event.CloudEventsVersionV1 {
		return event.Event{}, fmt.Errorf("%sspecversion: unknown specversion %q (want %s)", label, sv, event.CloudEventsVersionV1)
	}
	e := event.New(event.CloudEventsVersionV1)
	for _, name := range slices.Sorted(maps.Keys(attrs)) {
		if name == "specversion" {
			continue
		}
		if err := setAttribute(&e, name, attrs[name]); err != nil {
			return event.Event{}, fmt.Errorf("%s%s: %w", label, name, err)
		}
	}
	return e, nil
}

// attributeValue returns the string form of a structured-mode attribute:
// a context attribute must be a JSON string, an extension a string, a
// boolean or an integer.
func attributeValue(name string, raw json.RawMessage) (string, error) {
	var v string
	if knownAttribute(name) {
		if err := json.Unmarshal(raw, &v); err != nil {
			return "", errors.New("not a JSON string")
		}
	} else {
		var err error
		if v, err = extensionValue(raw); err != nil {
			return "", err
		}
	}
	if err := checkAttributeValue(v); err != nil {
		return "", err
	}
	return v, nil
}

func knownAttribute(name string) bool {
	switch name {
	case "specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema":
		return true
	}
	return false
}

// extensionValue returns the canonical string form of a JSON extension
// attribute value: a string, a boolean or an integer.
func extensionValue(raw json.RawMessage) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", err
	}
	switch v := v.(type) {
	case string:
		return v, nil
	case bool:
		return types.FormatBool(v), nil
	case json.Number:
		i, err := types.ParseInteger(v.String())
		if err != nil || v.String() != types.FormatInteger(i) {
			return "", fmt.Errorf("%s is not a CloudEvents integer", v)
		}
		return v.String(), nil
	}
	return "", errors.New("not a string, boolean or integer")
}

// setAttribute sets the context attribute or extension name of e to its
// string form v.
func setAttribute(e *event.Event, name, v string) error {
	switch name {
	case "id":
		e.SetID(v)
	case "source":
		if _, err := url.Parse(v); err != nil {
			return fmt.Errorf("%q is not a URI-reference", v)
		}
		e.SetSource(v)
	case "type":
		e.SetType(v)
	case "subject":
		e.SetSubject(v)
	case "dataschema":
		if _, err := url.Parse(v); err != nil {
			return fmt.Errorf("%q is not a URI", v)
		}
		e.SetDataSchema(v)
	case "datacontenttype":
		e.SetDataContentType(v)
	case "time":
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return fmt.Errorf("%q is not an RFC 3339 time", v)
		}
		e.SetTime(t)
	default:
		if !validExtensionName(name) {
			return fmt.Errorf("%q is not a valid extension name (lower-case letters and digits)", name)
		}
		if err := e.Context.SetExtension(name, v); err != nil {
			return err
		}
	}
	return nil
}

func validExtensionName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range []byte(name) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// validateEvent runs the CloudEvents validation of e, with the problems in a
// stable order, and accepts only specversion 1.0.
func validateEvent(e event.Event) error {
	if err := e.Validate(); err != nil {
		var ve event.ValidationError
		if !errors.As(err, &ve) {
			return fmt.Errorf("invalid event: %w", err)
		}
		problems := make([]string, 0, len(ve))
		for _, field := range slices.Sorted(maps.Keys(ve)) {
			problems = append(problems, field+": "+ve[field].Error())
		}
		return fmt.Errorf("invalid event: %s", strings.Join(problems, "; "))
	}
	if sv := e.SpecVersion(); sv != event.CloudEventsVersionV1 {
		return fmt.Errorf("invalid event: specversion: unsupported %q (want %s)", sv, event.CloudEventsVersionV1)
	}
	if len(e.ID()) > MaxIDLen {
		return fmt.Errorf("invalid event: id: %d bytes, more than the %d allowed", len(e.ID()), MaxIDLen)
	}
	return nil
}

// checkAttributeValue rejects what CloudEvents forbids in an attribute
// value: invalid UTF-8 and control characters.
func checkAttributeValue(v string) error {
	if !utf8.ValidString(v) {
		return errors.New("not valid UTF-8")
	}
	for _, r := range v {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			return fmt.Errorf("control character %U not allowed", r)
		}
	}
	return nil
}

// percentEncode encodes a header value as the CloudEvents HTTP and NATS
// bindings require: space, double quote, percent and every byte outside
// printable ASCII become %XX of their UTF-8 bytes.
func percentEncode(v string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c <= ' ' || c >= 0x7f || c == '"' || c == '%' {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0x0f])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// decodeHeaderValue undoes percentEncode. As the bindings require, it first
// removes RFC 7230 double-quoting (with backslash escapes), then does one
// round of percent-decoding, and rejects the result unless it is valid
// UTF-8 without control characters.
func decodeHeaderValue(v string) (string, error) {
	var unquoted strings.Builder
	quoted := false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '"':
			quoted = !quoted
		case c == '\\' && quoted:
			if i++; i == len(v) {
				return "", errors.New("unterminated quoted string")
			}
			unquoted.WriteByte(v[i])
		default:
			unquoted.WriteByte(c)
		}
	}
	if quoted {
		return "", errors.New("unterminated quoted string")
	}
	s := unquoted.String()
	var out []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			out = append(out, s[i])
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return "", fmt.Errorf("bad percent-encoding at byte %d", i)
		}
		out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
		i += 2
	}
	if err := checkAttributeValue(string(out)); err != nil {
		return "", err
	}
	return string(out), nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// isJSON reports whether the media type mt is JSON: application/json,
// text/json or any +json type.
func isJSON(mt string) bool {
	return mt == event.ApplicationJSON || mt == event.TextJSON || strings.HasSuffix(mt, "+json")
}

// describeJSONError says where in data a JSON error is.
func describeJSONError(data []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// Offset counts the bytes read, the offending one included.
		line, col := position(data, se.Offset-1)
		return fmt.Errorf("invalid JSON at line %d, column %d: %w", line, col, err)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		line, col := position(data, te.Offset)
		err := fmt.Errorf("JSON %s at line %d, column %d cannot be decoded into %s", te.Value, line, col, te.Type)
		if te.Field != "" {
			err = fmt.Errorf("field %q: %w", te.Field, err)
		}
		return err
	}
	return err
}

// position returns the 1-based line and column of byte offset in data.
func position(data []byte, offset int64) (line, col int) {
	offset = min(max(offset, 0), int64(len(data)))
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}
