package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/registry"
)

// BenchmarkManySourcesChanged measures 1,000 sources changed at once:
// `regsync serve` with the default configuration and 1,000 file sources;
// each round writes every file, one after the other, and takes the time
// from the first write to the last completed result for the new contents.
func BenchmarkManySourcesChanged(b *testing.B) {
	const n = 1000
	dir := b.TempDir()
	paths := make([]string, n)
	var srcs strings.Builder
	for i := range paths {
		paths[i] = filepath.Join(dir, fmt.Sprintf("s%04d.json", i))
		if err := os.WriteFile(paths[i], []byte(registryWith(fmt.Sprintf("Alpha %d", i))), 0o644); err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(&srcs, "  - name: s%04d\n    file: {path: %s}\n    syncPolicy: {interval: 30m}\n", i, paths[i])
	}
	svc := serveSources(b, "s0000", srcs.String())
	res := followResults(b, svc)

	// round writes every file and waits for the completed result of each
	// new content; results of earlier contents (the start-up syncs) are
	// passed over.
	round := func(r int) time.Duration {
		want := make(map[string]string, n)
		start := time.Now()
		for i, path := range paths {
			content := registryWith(fmt.Sprintf("Alpha %d, round %d", i, r))
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				b.Fatal(err)
			}
			want[fmt.Sprintf("s%04d", i)] = registry.Hash([]byte(content))
		}
		for len(want) > 0 {
			switch d := res.next(time.Minute).(type) {
			case nil:
				b.Fatalf("%d sources never completed round %d", len(want), r)
			case events.SyncCompleted:
				if want[d.Source] == d.Hash {
					delete(want, d.Source)
				}
			case events.SyncFailed:
				b.Fatalf("sync of %s failed: %s", d.Source, d.Message)
			}
		}
		return time.Since(start)
	}
	round(0) // every source synced once and watched
	var worst time.Duration
	for r := 1; b.Loop(); r++ {
		worst = max(worst, round(r))
	}
	b.ReportMetric(float64(worst.Milliseconds()), "max-ms")
}
