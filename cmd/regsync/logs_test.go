package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// JSON logs are JSON to the last line: durations are seconds, and the
// error that stops regsync is a log record too.
func TestJSONLogs(t *testing.T) {
	t.Run("durations are seconds", func(t *testing.T) {
		var buf bytes.Buffer
		g := &globals{logLevel: "info", logFormat: "json"}
		logger, err := g.logger(&buf)
		if err != nil {
			t.Fatal(err)
		}
		logger.Info("webhook delivery", "took", 1500*time.Millisecond)
		var rec map[string]any
		if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		if rec["took"] != 1.5 {
			t.Errorf("took = %v, want 1.5 (seconds)", rec["took"])
		}
	})
	t.Run("text logs keep the readable form", func(t *testing.T) {
		var buf bytes.Buffer
		g := &globals{logLevel: "info", logFormat: "text"}
		logger, _ := g.logger(&buf)
		logger.Info("x", "took", 1500*time.Millisecond)
		if !strings.Contains(buf.String(), "took=1.5s") {
			t.Errorf("log %s", buf.String())
		}
	})
	cases := []struct {
		name, format string
		args         []string
		want         string
	}{
		{"a fatal start-up error is a JSON record", "json", []string{"serve", "--config", filepath.Join(t.TempDir(), "missing.yaml"), "--log-format", "json"}, "missing.yaml"},
		{"a usage error is a JSON record", "json", []string{"status", "-o", "yaml", "--log-format", "json"}, "-o"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			g := globalsFromEnv()
			err := runWith(context.Background(), g, tc.args, &bytes.Buffer{}, &stderr)
			if code := report(g, err, &stderr); code == 0 {
				t.Fatal("exit code 0")
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			for _, line := range lines {
				if !json.Valid([]byte(line)) {
					t.Errorf("not a JSON line: %s", line)
				}
			}
			var last map[string]any
			json.Unmarshal([]byte(lines[len(lines)-1]), &last)
			if last["level"] != "ERROR" || !strings.Contains(last["err"].(string), tc.want) {
				t.Errorf("last record %v", last)
			}
		})
	}
	t.Run("text stays the plain line", func(t *testing.T) {
		var stderr bytes.Buffer
		g := globalsFromEnv()
		err := runWith(context.Background(), g, []string{"status", "-o", "yaml"}, &bytes.Buffer{}, &stderr)
		report(g, err, &stderr)
		if !strings.HasPrefix(stderr.String(), "regsync: ") {
			t.Errorf("stderr %q", stderr.String())
		}
	})
}
