package events_test

import (
	"encoding/json"
	"fmt"

	"github.com/regsync/regsync/events"
)

func Example() {
	// regsync's own producers name the deployment and themselves.
	source := events.ProducerSource("k7c2m9q4x1z8v3b6n5w0t2r7y4", events.ProducerCLI)
	e, err := events.New("req-1-toolhive", source, events.SyncRequested{
		Source:    "toolhive",
		Trigger:   events.TriggerManual,
		RequestID: "req-1",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	msg, err := events.Encode(events.TriggerSubject("toolhive"), e)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(msg.Subject, msg.Header.Get("Content-Type"), msg.Header.Get("Nats-Msg-Id"))
	fmt.Println(e.Source(), e.DataSchema())

	// On the receiving side.
	got, err := events.Decode(msg.Header, msg.Data)
	if err != nil {
		fmt.Println(err)
		return
	}
	req, err := events.DecodeData[events.SyncRequested](got)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(req.Source, req.Trigger, req.RequestID)
	// Output:
	// regsync.trigger.toolhive application/cloudevents+json req-1-toolhive
	// urn:regsync:k7c2m9q4x1z8v3b6n5w0t2r7y4:cli urn:regsync:schema:sync-requested.v1
	// toolhive manual req-1
}

func ExampleDecode_structured() {
	// What `nats pub regsync.trigger.toolhive '{...}'` sends: no headers.
	body := []byte(`{"specversion":"1.0","type":"io.regsync.sync.requested.v1","source":"cli","id":"req-1","data":{"source":"toolhive","trigger":"manual"}}`)
	e, err := events.Decode(nil, body)
	if err != nil {
		fmt.Println(err)
		return
	}
	d, err := events.DataOf(e)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s %#v\n", e.ID(), d)
	// Output:
	// req-1 events.SyncRequested{Source:"toolhive", Trigger:"manual", RequestID:""}
}

func ExampleSourceFromSubject() {
	for _, subject := range []string{
		"regsync.trigger.toolhive",
		"regsync.result.mcp-registry.failed",
		"regsync.result.toolhive.unknown",
	} {
		source, ok := events.SourceFromSubject(subject)
		fmt.Printf("%q %v\n", source, ok)
	}
	// Output:
	// "toolhive" true
	// "mcp-registry" true
	// "" false
}

func ExampleStatus() {
	// The value of `nats kv get regsync_status toolhive --raw`, or of
	// kv.Get(ctx, "toolhive") on the bucket events.BucketStatus.
	value := []byte(`{"phase":"Failed","message":"Fetch failed: 503 Service Unavailable",
		"lastSyncTime":"2026-03-14T10:02:11Z","lastSuccessTime":"2026-03-14T09:27:04Z",
		"attemptCount":2,"lastSyncHash":"e3f1c2a9","lastAppliedFilterHash":"","serverCount":142,
		"skillCount":9,"pluginCount":3,"syncSchedule":"30m","revision":"6113728f",
		"lastReason":"source-data-changed","lastTriggerId":"gp-toolhive-0b5c1e9a","lastManualRequestId":"",
		"conditions":[
			{"type":"SourceAvailable","status":"False","reason":"FetchFailed","message":"Fetch failed: 503 Service Unavailable","lastTransitionTime":"2026-03-14T10:01:40Z"},
			{"type":"APIReady","status":"True","reason":"LastGoodSnapshot","message":"serving the last good snapshot","lastTransitionTime":"2026-03-14T09:27:04Z"}]}`)
	var st events.Status
	if err := json.Unmarshal(value, &st); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(st.Phase, st.AttemptCount, st.ServerCount, st.LastSuccessTime.Format("15:04:05"))
	if c, ok := st.Condition(events.ConditionSourceAvailable); ok && c.Status == events.ConditionFalse {
		fmt.Println("source unavailable:", c.Reason)
	}
	if c, ok := st.Condition(events.ConditionAPIReady); ok && c.Status == events.ConditionTrue {
		fmt.Println("still served:", c.Reason)
	}
	// Output:
	// Failed 2 142 09:27:04
	// source unavailable: FetchFailed
	// still served: LastGoodSnapshot
}

func ExampleRegistryFromSubject() {
	// A consumer of every registry's changes: nc.Subscribe(events.AllRegistryChanges, ...).
	fmt.Println(events.AllRegistryChanges)
	for _, subject := range []string{
		events.RegistrySubject("default"),
		"regsync.result.default.completed",
	} {
		registry, ok := events.RegistryFromSubject(subject)
		fmt.Printf("%s %q %v\n", subject, registry, ok)
	}
	// Output:
	// regsync.registry.*.changed
	// regsync.registry.default.changed "default" true
	// regsync.result.default.completed "" false
}

func ExampleRegistryStatus() {
	// The value of `nats kv get regsync_registry_status default --raw`.
	value := []byte(`{"generation":8,"viewDigest":"SHA-256=8kq3","serverCount":150,"skillCount":11,"pluginCount":3,
		"sources":[{"name":"internal","phase":"Complete","revision":"6113728f","lastSyncHash":"e3f1c2a9"},
			{"name":"upstream","phase":"Failed","lastSyncHash":"b5d4045c"}],
		"lastChange":"2026-03-14T09:27:04Z",
		"conditions":[{"type":"Degraded","status":"True","reason":"SourceFailing","message":"source upstream: Fetch failed: 503 Service Unavailable","lastTransitionTime":"2026-03-14T10:02:11Z"}]}`)
	var st events.RegistryStatus
	if err := json.Unmarshal(value, &st); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(st.Generation, st.ServerCount)
	for _, src := range st.Sources {
		fmt.Println(src.Name, src.Phase)
	}
	if c, ok := st.Condition(events.ConditionDegraded); ok && c.Status == events.ConditionTrue {
		fmt.Println("degraded:", c.Message)
	}
	// Output:
	// 8 150
	// internal Complete
	// upstream Failed
	// degraded: source upstream: Fetch failed: 503 Service Unavailable
}
