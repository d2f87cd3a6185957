package main

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/regsync/regsync/internal/burst"
	"github.com/regsync/regsync/internal/testsupport"
)

// countReturns replaces the memory policy with a count of its calls until
// the test ends.
func countReturns(t *testing.T) *atomic.Int64 {
	var calls atomic.Int64
	policy := returnMemory
	returnMemory = func() { calls.Add(1) }
	t.Cleanup(func() { returnMemory = policy })
	return &calls
}

// A burst of reads grows the heap under load; once it has passed, serve
// gives the memory back, as it does after a burst of webhook deliveries.
func TestServeReturnsMemoryAfterABurstOfRequests(t *testing.T) {
	calls := countReturns(t)
	svc, _ := serveQuickStart(t, "")
	if n := calls.Load(); n != 0 {
		t.Fatalf("memory returned %d times before any request", n)
	}
	send := func(method, path string) {
		req, err := http.NewRequest(method, "http://"+svc.httpAddr+path, strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}

	for range burst.Size {
		send(http.MethodGet, "/registry/quickstart/v0.1/servers?limit=1")
	}
	testsupport.Eventually(t, "memory returned after a burst of reads", func() bool { return calls.Load() == 1 })

	for range burst.Size {
		send(http.MethodPost, "/webhooks/github")
	}
	testsupport.Eventually(t, "memory returned after a burst of webhook deliveries", func() bool { return calls.Load() == 2 })
}
