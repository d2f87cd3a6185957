package bustest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ForgeObject replaces the content of an object behind its writer's back,
// as anyone allowed to write the bucket can: the chunks are replaced under
// the same NUID by content of the same size, and the description is
// republished unchanged, so it still gives the old digest.
func ForgeObject(tb testing.TB, js jetstream.JetStream, bucket, name string, content []byte) {
	tb.Helper()
	ctx := context.Background()
	obs, err := js.ObjectStore(ctx, bucket)
	if err != nil {
		tb.Fatal(err)
	}
	info, err := obs.GetInfo(ctx, name)
	if err != nil {
		tb.Fatal(err)
	}
	if uint64(len(content)) != info.Size {
		tb.Fatalf("forged content has %d bytes, the object %d", len(content), info.Size)
	}
	stream, err := js.Stream(ctx, "OBJ_"+bucket)
	if err != nil {
		tb.Fatal(err)
	}
	chunks := fmt.Sprintf("$O.%s.C.%s", bucket, info.NUID)
	if err := stream.Purge(ctx, jetstream.WithPurgeSubject(chunks)); err != nil {
		tb.Fatal(err)
	}
	if _, err := js.Publish(ctx, chunks, content); err != nil {
		tb.Fatal(err)
	}
	info.Chunks = 1
	meta, err := json.Marshal(info)
	if err != nil {
		tb.Fatal(err)
	}
	msg := nats.NewMsg(fmt.Sprintf("$O.%s.M.%s", bucket, base64.URLEncoding.EncodeToString([]byte(name))))
	msg.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
	msg.Data = meta
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		tb.Fatal(err)
	}
}
