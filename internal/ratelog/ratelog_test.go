package ratelog

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// records decodes the JSON lines written to buf.
func records(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		out = append(out, rec)
	}
	return out
}

func newTest(burst int, period time.Duration) (*slog.Logger, *bytes.Buffer, *time.Time) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewJSONHandler(&buf, nil)), burst, period)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l.Handler().(*handler).s.now = func() time.Time { return now }
	return l, &buf, &now
}

func TestBoundsRepeatedMessages(t *testing.T) {
	l, buf, now := newTest(3, time.Minute)
	for i := range 10_000 {
		l.Warn("rejecting malformed trigger", "n", i)
	}
	l.Info("something else")
	got := records(t, buf)
	if len(got) != 4 {
		t.Fatalf("%d lines for 10,000 records, want the first 3 and the other message", len(got))
	}
	*now = now.Add(time.Minute)
	l.Warn("rejecting malformed trigger", "n", 10_000)
	got = records(t, buf)
	last := got[len(got)-1]
	if last["suppressed"] != float64(9997) || last["n"] != float64(10_000) || last["suppressed_since"] == nil {
		t.Errorf("summary %v, want suppressed=9997", last)
	}
	l.Warn("rejecting malformed trigger")
	if got := records(t, buf); got[len(got)-1]["suppressed"] != nil {
		t.Errorf("the count is reported once: %v", got[len(got)-1])
	}
}

func TestLevelsAndDerivedLoggersShareTheBound(t *testing.T) {
	l, buf, _ := newTest(2, time.Minute)
	derived := l.With("source", "a")
	for range 5 {
		l.Info("webhook delivery")
		derived.Info("webhook delivery")
		l.Error("webhook delivery")
	}
	var info, errs int
	for _, rec := range records(t, buf) {
		switch rec["level"] {
		case "INFO":
			info++
		case "ERROR":
			errs++
		}
	}
	if info != 2 || errs != 2 {
		t.Errorf("%d info and %d error lines, want 2 of each", info, errs)
	}
}
