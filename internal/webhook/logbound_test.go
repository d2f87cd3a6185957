package webhook

import (
	"testing"

	"github.com/regsync/regsync/events"
)

// A burst of deliveries writes a bounded number of lines.
func TestDeliveryFloodLogsBounded(t *testing.T) {
	r := newTestReceiver(t, testHooks(t), catalogSources, Options{})
	ev, body := pushOf(t, events.ProviderGitHub)
	const n = 1000
	for i := range n {
		key := githubSecret
		if i%2 == 1 {
			key = "wrong-secret"
		}
		r.send(t, signed(events.ProviderGitHub, key, ev, "d-flood", body))
	}
	lines := r.logs.Count(`"msg":"webhook delivery"`)
	if lines > 2*deliveryLogBurst {
		t.Errorf("%d log lines for %d deliveries, want at most %d", lines, n, 2*deliveryLogBurst)
	}
}
