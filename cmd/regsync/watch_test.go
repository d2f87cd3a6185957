package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/testsupport"
)

func TestWatchPrintsEachResult(t *testing.T) {
	svc := startServe(t)
	for _, tc := range []struct {
		format string
		check  func(t *testing.T, line string)
	}{
		{"text", func(t *testing.T, line string) {
			for _, want := range []string{"local", "skipped", "manual-sync-no-data-changes", "triggers=1"} {
				if !strings.Contains(line, want) {
					t.Errorf("line %q lacks %q", line, want)
				}
			}
		}},
		{"json", func(t *testing.T, line string) {
			var ev map[string]any
			if err := json.Unmarshal([]byte(line), &ev); err != nil || ev["type"] != events.TypeSyncSkipped {
				t.Errorf("line %q (%v)", line, err)
			}
		}},
	} {
		t.Run(tc.format, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			out, errOut := &testsupport.Buffer{}, &testsupport.Buffer{}
			done := make(chan error, 1)
			go func() {
				done <- run(ctx, withServedNATS([]string{"watch", "local", "-o", tc.format, "--config", svc.cfgPath}), out, errOut)
			}()
			testsupport.Eventually(t, "watch to start", func() bool { return errOut.Contains("watching") })
			if _, _, err := cli(t, "sync", "local", "--config", svc.cfgPath); err != nil {
				t.Fatal(err)
			}
			// Other results (the file watcher's first look) may come first:
			// find the answer to this request.
			testsupport.Eventually(t, "the answer to the request", func() bool { return out.Contains("manual-sync-no-data-changes") })
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("watch: %v", err)
			}
			var line string
			for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				if strings.Contains(l, "manual-sync-no-data-changes") {
					line = l
				}
			}
			if line == "" {
				t.Fatalf("no line for the manual sync in %q", out.String())
			}
			tc.check(t, line)
		})
	}
}

func TestResultLine(t *testing.T) {
	covered := events.Covered{TriggerIDs: []string{"t1"}, TriggerCount: 1, TriggerSeq: 1, StartedAt: time.Now()}
	ev, err := events.New("r-1", "/test", events.SyncCompleted{
		Source: "local", Reason: "source-data-changed", Covered: covered, Hash: "h", Revision: "r",
		ServerCount: 3, Diff: events.Diff{Added: []string{"a/one", "a/two"}, Updated: []string{"a/three"}, Removed: []string{"a/four", "a/five"}},
		DurationMs: 12, SnapshotDigest: "SHA-256=x", FilterHash: "f",
	})
	if err != nil {
		t.Fatal(err)
	}
	line := resultLine(ev)
	for _, want := range []string{"local", "completed", "source-data-changed", "servers=3", "+2 ~1 -2", "+a/one +a/two ~a/three and 2 more", "12ms"} {
		if !strings.Contains(line, want) {
			t.Errorf("line %q lacks %q", line, want)
		}
	}
}

func TestRegistryLine(t *testing.T) {
	ev, err := events.New("g-both-e-3", "/test", events.RegistryChanged{
		Registry: "both", Reason: events.RegistryReasonSourceChanged, Generation: 3, PreviousGeneration: 2,
		Causes: []events.Cause{{Source: "internal", ResultID: "r-internal-e-7", Revision: "6113728f27ae82c7b1a177c8d03f9e96e0adf246"},
			{Source: "upstream", ResultID: "r-upstream-e-9"}},
		CauseCount: 3, ServerCount: 12, ViewDigest: "d",
		Diff: events.RegistryDiff{ViewDiff: events.ViewDiffOf([]string{"a/one"}, []string{"a/two"}, nil, nil)},
	})
	if err != nil {
		t.Fatal(err)
	}
	line := resultLine(ev)
	for _, want := range []string{"both", "registry", "source-changed", "generation=3", "servers=12", "+1 ~1 -0",
		"+a/one ~a/two", "causes=internal@6113728f27ae,upstream and 1 more"} {
		if !strings.Contains(line, want) {
			t.Errorf("line %q lacks %q", line, want)
		}
	}
}

// watch shows registry changes beside source results; with a source's
// name it keeps the changes of the registries that source's syncs made,
// and --registries shows registry changes alone.
func TestWatchShowsRegistryChanges(t *testing.T) {
	svc := startServe(t)
	for i, tc := range []struct {
		name string
		args []string
		only bool // registry lines only
	}{
		{"all", nil, false},
		{"source", []string{"local"}, false},
		{"registries", []string{"--registries"}, true},
		{"one registry", []string{"--registries", "default"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			out, errOut := &testsupport.Buffer{}, &testsupport.Buffer{}
			done := make(chan error, 1)
			args := append([]string{"watch", "--config", svc.cfgPath}, tc.args...)
			go func() { done <- run(ctx, withServedNATS(args), out, errOut) }()
			testsupport.Eventually(t, "watch to start", func() bool { return errOut.Contains("watching") })
			desc := fmt.Sprintf(`"description":"Alpha, edit %d"`, i)
			edited := strings.Replace(testRegistry, `"description":"Alpha"`, desc, 1)
			if err := os.WriteFile(svc.regPath, []byte(edited), 0o644); err != nil {
				t.Fatal(err)
			}
			testsupport.Eventually(t, "the registry change of the edit", func() bool {
				return out.Contains(" registry ") && out.Contains("causes=local@")
			})
			if !tc.only {
				testsupport.Eventually(t, "the source's result", func() bool { return out.Contains(" completed ") })
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("watch: %v", err)
			}
			for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				if tc.only && !strings.Contains(l, " registry ") {
					t.Errorf("watch %v printed %q, want registry changes only", tc.args, l)
				}
			}
		})
	}
}
