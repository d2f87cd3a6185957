package bus

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// kvHeadroom is the room left in a message for the subject and headers of
// a key-value write.
const kvHeadroom = 4 << 10

// ValueLimit is the largest value, in bytes, that a write to kv can
// store: the most the server takes in one message, and the bucket's own
// value size limit when it has one, less room for the write's headers. A
// larger value is refused, so a record that must be written is made to
// fit it first. When the bucket's settings cannot be read, it returns the
// server's limit with the error.
func ValueLimit(ctx context.Context, kv jetstream.KeyValue, nc *nats.Conn) (int, error) {
	limit := nc.MaxPayload()
	st, err := kv.Status(ctx)
	if err != nil {
		return int(max(limit-kvHeadroom, 0)), fmt.Errorf("read settings of bucket %s: %w", kv.Bucket(), err)
	}
	if bs, ok := st.(*jetstream.KeyValueBucketStatus); ok {
		if m := int64(bs.StreamInfo().Config.MaxMsgSize); m > 0 && m < limit {
			limit = m
		}
	}
	return int(max(limit-kvHeadroom, 0)), nil
}
