package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/internal/testsupport"
)

func TestServeReloadsItsConfig(t *testing.T) {
	svc := startServe(t)
	res := followResults(t, svc)
	res.noCompleted(300 * time.Millisecond)
	original, err := os.ReadFile(svc.cfgPath)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("an invalid config is rejected and the service keeps running", func(t *testing.T) {
		if err := os.WriteFile(svc.cfgPath, []byte("sources:\n  - name: Not_Valid\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		testsupport.Eventually(t, "the rejection in the log", func() bool { return svc.log.Contains("config reload rejected") })
		if !svc.log.Contains("Not_Valid") {
			t.Fatalf("no rejection naming the problem in the log")
		}
		if _, _, err := cli(t, "sync", "local", "--wait", "--nats-url", svc.natsURL); err != nil {
			t.Errorf("the running configuration was lost: %v", err)
		}
		res.next(5 * time.Second) // that sync's answer
	})

	t.Run("a changed filter and an added source sync", func(t *testing.T) {
		second := filepath.Join(filepath.Dir(svc.regPath), "second.json")
		if err := os.WriteFile(second, []byte(testRegistry), 0o644); err != nil {
			t.Fatal(err)
		}
		next := strings.Replace(string(original), `exclude: ["*/beta"]`, `exclude: ["*/alpha"]`, 1)
		next = strings.Replace(next, "registries:", "  - name: second\n    file: {path: "+second+"}\n    syncPolicy: {interval: 1h}\nregistries:", 1)
		if err := os.WriteFile(svc.cfgPath, []byte(next), 0o644); err != nil {
			t.Fatal(err)
		}
		got := res.completedBy("local", "second")
		if got["local"].Reason != "filter-changed" || got["second"].Reason != "registry-not-ready" {
			t.Errorf("completed reasons %q and %q", got["local"].Reason, got["second"].Reason)
		}
	})
}
