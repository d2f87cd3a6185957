// Package events is regsync's public event contract: the NATS names, the
// CloudEvents types and their data, and the codec that puts them on NATS.
//
// regsync publishes a CloudEvent for every reason to look at a source (a
// trigger, on the REGSYNC_TRIGGERS stream, subject regsync.trigger.<source>)
// and for every outcome (a result, on the REGSYNC_RESULTS stream, subject
// regsync.result.<source>.<outcome>). The status of each source is in the
// key-value bucket regsync_status (Status) and its last good registry JSON
// in the object store regsync_data, both keyed by source name.
//
// A registry is a named, ordered list of sources merged into one view.
// Every change of a registry's view is a RegistryChanged event on
// REGSYNC_RESULTS, subject regsync.registry.<registry>.changed; the merged
// registry JSON is in the object store regsync_registries and the
// registry's status in the key-value bucket regsync_registry_status
// (RegistryStatus), both keyed by registry name.
//
// Events follow the CloudEvents NATS protocol binding. regsync writes
// structured content mode by default: the message body is the whole event
// in the JSON event format and the Content-Type header is
// application/cloudevents+json, which every CloudEvents SDK reads (the Go
// SDK's protocol/nats binding reads nothing else). With events.contentMode:
// binary in the configuration it writes binary mode instead: the attributes
// are ce-* headers and the body is the JSON data. Decode reads both, so a
// trigger can be published with nothing but the nats CLI:
//
//	nats pub regsync.trigger.toolhive '{"specversion":"1.0","type":"io.regsync.sync.requested.v1","source":"cli","id":"req-1","data":{"source":"toolhive","trigger":"manual"}}'
//
// # Attributes
//
// The subject attribute is the source name. The source attribute is an
// absolute URI naming the deployment and the producer (ProducerSource):
// urn:regsync:<deployment>:<producer>, where the deployment id is created
// once and kept in JetStream, so (source, id) never collides across
// deployments and a consumer may deduplicate on it, as CloudEvents allows.
// The dataschema attribute is the $id of the data's JSON Schema
// (DataSchema), a URN that schemas.LookupID resolves. Every message's
// Nats-Msg-Id header is the event id.
//
// # Compatibility
//
// Readers are tolerant and types change additively. Within a type such as
// io.regsync.sync.completed.v1, a later regsync may add optional data
// fields, CloudEvents extension attributes and new event types; DecodeData
// ignores data fields it does not know, and the schemas allow additional
// properties, so a consumer built against this version keeps working.
// Anything else (removing or renaming a field, changing its type or
// meaning, making it required, adding a value to an enumerated field such
// as reason or trigger) is a new type version (.v2), published beside the
// old one for a deprecation period. Consumers should ignore event types
// they do not know.
//
// A consumer may also use the CloudEvents Go SDK instead of Decode: both
// github.com/cloudevents/sdk-go/protocol/nats/v2 (structured mode only) and
// protocol/nats_jetstream/v2 read regsync's messages, and DataOf reads the
// event the SDK returns.
//
// # Subscribing
//
// A consumer needs only NATS and this package. With core NATS it sees the
// results published while it is connected:
//
//	sub, err := nc.Subscribe(events.AllResults, func(m *nats.Msg) {
//		e, err := events.Decode(m.Header, m.Data)
//		if err != nil {
//			log.Printf("skip message on %s: %v", m.Subject, err)
//			return
//		}
//		d, err := events.DataOf(e)
//		if err != nil {
//			log.Printf("skip event %s: %v", e.ID(), err)
//			return
//		}
//		switch d := d.(type) {
//		case events.SyncCompleted:
//			added, updated, removed := d.Diff.Counts()
//			log.Printf("%s: %d servers, +%d ~%d -%d", d.Source, d.ServerCount,
//				added, updated, removed)
//		case events.SyncFailed:
//			log.Printf("%s failed: %s", d.Source, d.Message)
//		}
//	})
//
// A durable JetStream consumer of its own on REGSYNC_RESULTS also sees what
// happened while it was away, within the stream's retention (configured by
// nats.results; 7 days and 10,000 results per subject by default); with
// DeliverPolicy jetstream.DeliverByStartTimePolicy it replays from a point
// in time. A result the server delivers again has the same source and id.
// jetstream.Msg gives Headers() and Data():
//
//	js, err := jetstream.New(nc)
//	cons, err := js.CreateOrUpdateConsumer(ctx, events.StreamResults, jetstream.ConsumerConfig{
//		Durable:       "catalog-indexer",
//		FilterSubject: events.ResultSubject("toolhive", events.OutcomeCompleted),
//		AckPolicy:     jetstream.AckExplicitPolicy,
//	})
//	cc, err := cons.Consume(func(m jetstream.Msg) {
//		e, err := events.Decode(m.Headers(), m.Data())
//		if err != nil {
//			m.Term() // malformed: redelivery will not help
//			return
//		}
//		done, err := events.DecodeData[events.SyncCompleted](e)
//		if err != nil {
//			m.Term()
//			return
//		}
//		reindex(done.Source, done.Diff) // then fetch regsync_data/<source> if needed
//		m.Ack()
//	})
//	defer cc.Stop()
//
// # Publishing
//
// Producers build an event with New and publish the message Encode returns.
// Its Nats-Msg-Id header is the event id, so JetStream drops a repeat of the
// same observation. A script requesting a sync gives its own requestId; the
// result that answers it lists that id in requestIds:
//
//	e, err := events.New("req-1-toolhive", "urn:example:deploy-bot", events.SyncRequested{
//		Source: "toolhive", Trigger: events.TriggerManual, RequestID: "req-1",
//	})
//	msg, err := events.Encode(events.TriggerSubject("toolhive"), e)
//	ack, err := js.PublishMsg(ctx, msg)
//
// The JSON Schemas of the event data are in the schemas package.
package events
