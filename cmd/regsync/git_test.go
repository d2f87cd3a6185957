package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/sources/gittest"
	"github.com/regsync/regsync/internal/testsupport"
)

// TestGitSourceEndToEnd: a git source on a loopback smart-HTTP server syncs
// on start, picks up a commit pushed with the git command within one poll
// interval, and an unchanged remote is checked without any fetch.
func TestGitSourceEndToEnd(t *testing.T) {
	server := gittest.NewServer(t)
	repo := server.NewRepo(t, "catalog")
	first := repo.Push(map[string]string{"data/registry.json": testRegistry})

	svc := serveSources(t, "catalog", fmt.Sprintf(`
  - name: catalog
    git:
      repository: %s
      branch: main
      path: data/registry.json
      pollInterval: 200ms
    syncPolicy: {interval: 1h}
`, repo.URL))
	out, _, err := cli(t, "status", "catalog", "-o", "json", "--nats-url", svc.natsURL)
	if err != nil || !strings.Contains(out, `"revision": "`+first+`"`) {
		t.Fatalf("status after start does not name commit %s: %v\n%s", first, err, out)
	}
	res := followResults(t, svc)

	t.Run("an unchanged remote is listed, never fetched", func(t *testing.T) {
		res.noCompleted(300 * time.Millisecond) // let start-up checks settle
		refs0, packs0 := server.Counts()
		testsupport.Eventually(t, "three more ref listings", func() bool {
			refs, _ := server.Counts()
			return refs >= refs0+3
		})
		if _, packs1 := server.Counts(); packs1 != packs0 {
			t.Errorf("%d fetches of an unchanged remote", packs1-packs0)
		}
	})

	t.Run("a pushed commit syncs within a poll interval", func(t *testing.T) {
		pushed := time.Now()
		second := repo.Push(map[string]string{"data/registry.json": registryWith("Alpha, pushed")})
		c := res.completed()
		if c.Revision != second || c.Reason != "source-data-changed" || len(c.Diff.Updated) != 1 {
			t.Errorf("completed %+v, want revision %s", c, second)
		}
		t.Logf("push to completed result: %v", time.Since(pushed).Round(time.Millisecond))
	})

	t.Run("a bad commit fails and keeps the last good data", func(t *testing.T) {
		repo.Push(map[string]string{"data/registry.json": `{"not": "a registry"}`})
		var f events.SyncFailed
		for {
			d := res.next(testsupport.Patience)
			if d == nil {
				t.Fatal("no failed result")
			}
			if r, ok := d.(events.SyncFailed); ok {
				f = r
				break
			}
		}
		if f.ConditionType != "DataValid" {
			t.Errorf("failed %+v", f)
		}
		out, _, _ := cli(t, "status", "catalog", "-o", "json", "--nats-url", svc.natsURL)
		if !strings.Contains(out, `"serverCount": 2`) {
			t.Errorf("status lost the last good counts:\n%s", out)
		}
	})
}
