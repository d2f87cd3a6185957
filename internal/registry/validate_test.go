package registry

import (
	"strings"
	"testing"

	"github.com/regsync/regsync/events"
)

// What Validate says about invalid data is recorded in the status record
// and published in a sync.failed event, so it stays bounded whatever the
// data: each failed check is cut, and only the first few are listed.
func TestValidateMessageIsBounded(t *testing.T) {
	huge := strings.Repeat("x", 2<<20)
	many := make([]string, 20_000)
	for i := range many {
		many[i] = `{"name":"io.test/s","version":"1.0.0"}`
	}
	tests := []struct {
		name  string
		doc   string
		parts []string
	}{
		{
			name:  "a 2 MB value is quoted cut",
			doc:   withServers(`{"name":"` + huge + `","description":"d","version":"1.0.0"}`),
			parts: []string{"data.servers.0.name: ", "…"},
		},
		{
			name:  "20,000 failed checks list the first ones and count the rest",
			doc:   withData(`{"servers":[` + strings.Join(many, ",") + `]}`),
			parts: []string{"with 20000 errors:", "\n  20. data.servers.", "\n  and 19980 more"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate([]byte(tt.doc))
			if err == nil {
				t.Fatal("Validate succeeded, want an error")
			}
			msg := err.Error()
			if len(msg) > events.MaxMessageLen {
				t.Errorf("message is %d bytes, want at most %d; it starts %q", len(msg), events.MaxMessageLen, msg[:200])
			}
			for _, part := range tt.parts {
				if !strings.Contains(msg, part) {
					t.Errorf("message %q\ndoes not contain %q", events.Clip(msg, 2000), part)
				}
			}
			if strings.Contains(msg, "\n  21. ") {
				t.Errorf("message lists more than 20 failed checks: %q", events.Clip(msg, 2000))
			}
		})
	}
}
