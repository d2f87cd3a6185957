// Package events is regsync's public event contract: the NATS names, the
// CloudEvents types and their data, and the codec that puts them on NATS.
//
// regsync publishes a CloudEvent for every reason to look at a source (a
// trigger, on the REGSYNC_TRIGGERS stream, subject regsync.trigger.<source>)
// and for every outcome (a result, on the REGSYNC_RESULTS stream, subject
// regsync.result.<source>.<outcome>). The status of each source is in the
// key-value bucket regsync_status and its last good registry JSON in the
// object store regsync_data, both keyed by source name.
//
// Events travel in the binary content mode of the CloudEvents NATS protocol
// binding: the attributes are ce-* headers and the body is the JSON data.
// Decode reads that and the structured mode, so a trigger can be published
// with nothing but the nats CLI:
//
//	nats pub regsync.trigger.toolhive '{"specversion":"1.0","type":"io.regsync.sync.requested.v1","source":"cli","id":"req-1","data":{"source":"toolhive","trigger":"manual"}}'
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
//			log.Printf("%s: %d servers, +%d ~%d -%d", d.Source, d.ServerCount,
//				len(d.Diff.Added), len(d.Diff.Updated), len(d.Diff.Removed))
//		case events.SyncFailed:
//			log.Printf("%s failed: %s", d.Source, d.Message)
//		}
//	})
//
// A durable JetStream consumer of its own on REGSYNC_RESULTS also sees what
// happened while it was away; jetstream.Msg gives Headers() and Data():
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
// same observation:
//
//	e, err := events.New("req-1-toolhive", "/regsync/cli", events.SyncRequested{
//		Source: "toolhive", Trigger: events.TriggerManual, RequestID: "req-1",
//	})
//	msg, err := events.Encode(events.TriggerSubject("toolhive"), e)
//	ack, err := js.PublishMsg(ctx, msg)
//
// The JSON Schemas of the event data are in the schemas package.
package events
