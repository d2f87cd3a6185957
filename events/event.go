package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
)

// New returns a CloudEvent carrying d: specversion 1.0, type d.EventType(),
// the given id and source (the producer's URI; regsync's producers use
// ProducerSource), subject d.SourceName(), dataschema DataSchema(d's type),
// time now in UTC, and d as application/json data. d must pass Validate.
func New(id, source string, d Data) (event.Event, error) {
	if d == nil {
		return event.Event{}, errors.New("new event: no data")
	}
	if err := d.Validate(); err != nil {
		return event.Event{}, fmt.Errorf("new %s event: %w", d.EventType(), err)
	}
	if _, err := url.Parse(source); err != nil {
		return event.Event{}, fmt.Errorf("new %s event: source: %q is not a URI-reference", d.EventType(), source)
	}
	e := event.New(event.CloudEventsVersionV1)
	e.SetID(id)
	e.SetSource(source)
	e.SetType(d.EventType())
	e.SetSubject(d.SourceName())
	e.SetDataSchema(DataSchema(d.EventType()))
	e.SetTime(time.Now().UTC())
	if err := e.SetData(event.ApplicationJSON, d); err != nil {
		return event.Event{}, fmt.Errorf("new %s event: encode data: %w", d.EventType(), err)
	}
	if err := validateEvent(e); err != nil {
		return event.Event{}, fmt.Errorf("new %s event: %w", d.EventType(), err)
	}
	return e, nil
}

// DecodeData returns the data of e as T. It fails when e is not of T's event
// type, when its data is not a JSON object, when the data fails T's
// Validate, or when e has a subject other than the data's source (or
// registry, for RegistryChanged). Fields T
// does not know are ignored: a .v1 type only ever gains optional fields
// (see the package documentation).
func DecodeData[T DataType](e event.Event) (T, error) {
	var d T
	if e.Type() != d.EventType() {
		return d, fmt.Errorf("decode data: event type %q, want %q", e.Type(), d.EventType())
	}
	if mt := e.DataMediaType(); mt != "" && !isJSON(mt) {
		return d, fmt.Errorf("decode %s data: content type %q is not JSON", e.Type(), e.DataContentType())
	}
	if len(e.Data()) == 0 {
		return d, fmt.Errorf("decode %s data: event %q has no data", e.Type(), e.ID())
	}
	dec := json.NewDecoder(bytes.NewReader(e.Data()))
	if err := dec.Decode(&d); err != nil {
		return d, fmt.Errorf("decode %s data: %w", e.Type(), describeJSONError(e.Data(), err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return d, fmt.Errorf("decode %s data: unexpected content after the JSON object at offset %d", e.Type(), dec.InputOffset())
	}
	if err := d.Validate(); err != nil {
		return d, fmt.Errorf("decode %s data: %w", e.Type(), err)
	}
	if s := e.Subject(); s != "" && s != d.SourceName() {
		return d, fmt.Errorf("decode %s data: event subject %q differs from data source %q", e.Type(), s, d.SourceName())
	}
	return d, nil
}

// DataOf returns the data of e as one of SourceChanged, SyncRequested,
// SyncCompleted, SyncFailed, SyncSkipped or RegistryChanged, chosen by the
// event type, for use in a type switch. An unknown event type is an error
// naming it.
func DataOf(e event.Event) (Data, error) {
	switch e.Type() {
	case TypeSourceChanged:
		return asData(DecodeData[SourceChanged](e))
	case TypeSyncRequested:
		return asData(DecodeData[SyncRequested](e))
	case TypeSyncCompleted:
		return asData(DecodeData[SyncCompleted](e))
	case TypeSyncFailed:
		return asData(DecodeData[SyncFailed](e))
	case TypeSyncSkipped:
		return asData(DecodeData[SyncSkipped](e))
	case TypeRegistryChanged:
		return asData(DecodeData[RegistryChanged](e))
	}
	return nil, fmt.Errorf("decode data: unknown event type %q", e.Type())
}

func asData[T DataType](d T, err error) (Data, error) {
	if err != nil {
		return nil, err
	}
	return d, nil
}
