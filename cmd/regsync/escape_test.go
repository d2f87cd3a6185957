package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/syncer/state"
)

// hostile is what an untrusted git remote or HTTP upstream can put in an
// error: clear screen, red, a window title, a C1 control sequence
// introducer.
const hostile = "\x1b[2J\x1b[31m\x1b]0;owned\x07\u009b1mremote says no"

// shown is hostile as a terminal must show it.
const shown = `\x1b[2J\x1b[31m\x1b]0;owned\a\u009b1mremote says no`

// noControls fails when out holds a control character other than the
// line breaks between lines, or lacks the escaped text: escapes must
// reach a terminal as text, never as commands.
func noControls(t *testing.T, what, out string) {
	t.Helper()
	for _, r := range out {
		if r < 0x20 && r != '\n' || r >= 0x7f && r <= 0x9f {
			t.Fatalf("%s holds the control %U: %q", what, r, out)
		}
	}
	if !strings.Contains(out, shown) {
		t.Errorf("%s does not show the escaped text: %q", what, out)
	}
}

func TestStatusTableEscapesControls(t *testing.T) {
	now := time.Now()
	var out bytes.Buffer
	records := map[string]*state.Status{"g": {
		Phase: "Failed", Message: "failed to clone repository: " + hostile, LastReason: "\x1b[2J",
		Revision: "\x1b]0;t\x07", LastAttempt: &now, AttemptCount: 2,
	}}
	if err := printStatusTable(&out, records); err != nil {
		t.Fatal(err)
	}
	noControls(t, "status table", out.String())
}

func TestResultLineEscapesControls(t *testing.T) {
	covered := events.Covered{TriggerIDs: []string{"t1"}, TriggerCount: 1, TriggerSeq: 1, StartedAt: time.Now()}
	for _, data := range []events.Data{
		events.SyncFailed{
			Source: "g", Reason: "source-fetch-failed", Covered: covered, ConditionType: "SourceAvailable",
			ConditionReason: "FetchFailed", Message: "failed to clone repository: " + hostile, AttemptCount: 1,
		},
		events.SyncCompleted{
			Source: "g", Reason: "source-data-changed", Covered: covered, Hash: "h", Revision: "r",
			Diff: events.Diff{Added: []string{hostile}}, SnapshotDigest: "SHA-256=x", FilterHash: "f",
		},
	} {
		ev, err := events.New("r-g-1", "/test", data)
		if err != nil {
			t.Fatal(err)
		}
		noControls(t, "watch line", resultLine(ev))
	}
}

func TestReportEscapesControls(t *testing.T) {
	var out bytes.Buffer
	report(globalsFromEnv(), errors.New("waiting for the result of g: "+hostile), &out)
	noControls(t, "error line", out.String())
}

func TestValidateFetchEscapesControls(t *testing.T) {
	dir := t.TempDir()
	// A file source whose path holds the escapes: the fetch error quotes it.
	bad := filepath.Join(dir, hostile)
	if err := os.Mkdir(bad, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.yaml")
	yaml := "sources:\n  - name: f\n    file: {path: " + strconv.Quote(bad) + "}\n    syncPolicy: {interval: 5m}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := cli(t, "validate", "--config", cfg, "--fetch")
	if err == nil {
		t.Fatalf("validate --fetch of a directory succeeded: %s", out)
	}
	noControls(t, "validate output", out)
	if strings.ContainsAny(errOut, "\x1b\x07\u009b") {
		t.Errorf("validate stderr holds controls: %q", errOut)
	}
}

func TestRegistryTableEscapesControls(t *testing.T) {
	var out bytes.Buffer
	r := namedRegistry{Name: "both", RegistryStatus: events.RegistryStatus{Generation: 2,
		Sources: []events.RegistrySource{{Name: "a", Phase: events.PhaseFailed}}}}
	r.SetCondition(events.ConditionDegraded, state.ConditionTrue, events.ConditionReasonSourceFailing,
		"source a fails: "+hostile, time.Now())
	if err := printRegistryTable(&out, []namedRegistry{r}); err != nil {
		t.Fatal(err)
	}
	noControls(t, "registry table", out.String())
}

func TestRegistryLineEscapesControls(t *testing.T) {
	ev, err := events.New("g-both-e-1", "/test", events.RegistryChanged{
		Registry: "both", Reason: events.RegistryReasonSourceChanged, Generation: 1, ViewDigest: "d",
		Causes: []events.Cause{{Source: "a", ResultID: "r-a-1", Revision: hostile}}, CauseCount: 1,
		Diff: events.RegistryDiff{ViewDiff: events.ViewDiffOf([]string{hostile}, nil, nil, nil)},
	})
	if err != nil {
		t.Fatal(err)
	}
	noControls(t, "registry line", resultLine(ev))
}
