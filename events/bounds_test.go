package events

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Ids are repeated in every result that answers them and in the status
// record: an event id or a requestId over MaxIDLen bytes is refused, and a
// result lists at most MaxCoveredBytes of ids.
func TestIDsAreBounded(t *testing.T) {
	long := strings.Repeat("i", MaxIDLen+1)
	atLimit := strings.Repeat("i", MaxIDLen)

	t.Run("a trigger with a long event id does not decode", func(t *testing.T) {
		body := `{"specversion":"1.0","type":"` + TypeSyncRequested + `","source":"cli","id":"` + long +
			`","data":{"source":"local","trigger":"manual"}}`
		_, err := Decode(nil, []byte(body))
		if err == nil || !strings.Contains(err.Error(), "id: 257 bytes, more than the 256 allowed") {
			t.Errorf("decode: %v, want the id refused as too long", err)
		}
	})
	t.Run("no event is made with a long id", func(t *testing.T) {
		if _, err := New(long, "/test", SyncRequested{Source: "local", Trigger: TriggerManual}); err == nil {
			t.Error("New accepted a 257-byte id")
		}
		if _, err := New(atLimit, "/test", SyncRequested{Source: "local", Trigger: TriggerManual}); err != nil {
			t.Errorf("New refused a %d-byte id: %v", MaxIDLen, err)
		}
	})
	t.Run("a long requestId is malformed", func(t *testing.T) {
		err := SyncRequested{Source: "local", Trigger: TriggerManual, RequestID: long}.Validate()
		if !errors.Is(err, ErrTooLong) || !strings.Contains(err.Error(), "requestId") {
			t.Errorf("validate: %v, want requestId too long", err)
		}
		if err := (SyncRequested{Source: "local", Trigger: TriggerManual, RequestID: atLimit}).Validate(); err != nil {
			t.Errorf("validate refused a %d-byte requestId: %v", MaxIDLen, err)
		}
	})
	t.Run("a result lists a bounded number of id bytes", func(t *testing.T) {
		c := Covered{StartedAt: time.Now()}
		for i := range MaxCoveredIDs {
			id := strings.Repeat("x", MaxIDLen-4) + string(rune('a'+i%26)) + string(rune('a'+i/26))
			c.Cover(id, uint64(i+1))
			c.CoverRequest(id)
		}
		if n := listedBytes(c); n > MaxCoveredBytes {
			t.Errorf("%d bytes of ids listed, want at most %d", n, MaxCoveredBytes)
		}
		if c.TriggerCount != MaxCoveredIDs || c.TriggerSeq != MaxCoveredIDs {
			t.Errorf("count %d, seq %d: every trigger is still counted and covered", c.TriggerCount, c.TriggerSeq)
		}
		if err := c.validate(); err != nil {
			t.Errorf("validate: %v", err)
		}
	})
	t.Run("a result listing too much does not validate", func(t *testing.T) {
		c := Covered{StartedAt: time.Now(), TriggerCount: 1, TriggerIDs: []string{long}}
		if err := c.validate(); err == nil {
			t.Error("a 257-byte trigger id validated")
		}
		c = Covered{StartedAt: time.Now(), TriggerCount: 100}
		for range 100 {
			c.TriggerIDs = append(c.TriggerIDs, atLimit)
		}
		if err := c.validate(); err == nil {
			t.Errorf("%d bytes of ids validated", listedBytes(c))
		}
	})
}

func listedBytes(c Covered) int {
	n := 0
	for _, id := range append(c.TriggerIDs, c.RequestIDs...) {
		n += len(id)
	}
	return n
}
