package coordinator

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/regsync/regsync/internal/config"
)

// BenchmarkTriggerToResult measures one round trip through JetStream: a
// change trigger published for an edited file until its completed result
// arrives (fetch, validate, filter, store, status, result).
func BenchmarkTriggerToResult(b *testing.B) {
	h := newHarness(b)
	path := filepath.Join(h.dir, "registry.json")
	writeRegistry(b, path, alpha, beta)
	h.start([]config.Source{fileSource("local", path, nil)}, 0)
	res := h.results("local")
	h.request("local")
	res.completed()

	var took []time.Duration
	descriptions := []string{"Beta server, revised", "Beta server"}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		changed := beta
		changed.description = descriptions[i%2]
		writeRegistry(b, path, alpha, changed)
		b.StartTimer()
		start := time.Now()
		h.changed("local", "")
		res.completed()
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
}
