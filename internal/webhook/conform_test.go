package webhook

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/registry"
	"github.com/regsync/regsync/internal/watch/watchtest"
)

// The receiver of every provider passes the producer conformance suite, as
// far as it applies: a push is a change, a forge's redelivery of the last
// push is a look at an unchanged source, and the receiver has no loop of
// its own to stop.
func TestReceiverConforms(t *testing.T) {
	for _, provider := range providerNames {
		t.Run(provider, func(t *testing.T) {
			watchtest.TestProducer(t, func(t *testing.T) watchtest.Harness {
				return &receiverConformance{r: newTestReceiver(t, testHooks(t), catalogSources, Options{}), provider: provider}
			})
		})
	}
}

// receiverConformance sends pushes of one provider for the source catalog.
type receiverConformance struct {
	r        *testReceiver
	provider string
	last     hook // the last push sent; none before the first Set
	sent     int
}

// Set sends a push of the commit named for version, as a new delivery.
func (h *receiverConformance) Set(t *testing.T, version int) string {
	t.Helper()
	rev := registry.Hash([]byte(fmt.Sprintf("commit %d", version)))[:40]
	ev, body := pushOf(t, h.provider)
	body = bytes.ReplaceAll(body, []byte(strings.Repeat("ab", 20)), []byte(rev))
	h.sent++
	h.last = signed(h.provider, secretOf[h.provider], ev, fmt.Sprintf("d-%d", h.sent), body)
	if res := h.r.send(t, h.last); res.status != http.StatusAccepted {
		t.Fatalf("push: status %d: %s", res.status, res.raw)
	}
	if h.provider == events.ProviderGeneric {
		return "" // a generic delivery names no commit
	}
	return rev
}

// Settle redelivers the last push, as a forge does when it missed the
// answer: the receiver answers every request only once its trigger is
// stored, so nothing is left to wait for.
func (h *receiverConformance) Settle(t *testing.T) {
	t.Helper()
	if h.last.body == nil {
		return
	}
	if res := h.r.send(t, h.last); res.status != http.StatusAccepted {
		t.Fatalf("redelivery: status %d: %s", res.status, res.raw)
	}
}

func (h *receiverConformance) Stored() []watchtest.Trigger {
	h.r.pub.mu.Lock()
	defer h.r.pub.mu.Unlock()
	var out []watchtest.Trigger
	for _, p := range h.r.pub.stored {
		out = append(out, watchtest.Trigger{ID: p.id, Revision: p.data.Revision})
	}
	return out
}
