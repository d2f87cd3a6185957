package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regsync/regsync/events"
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
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(svc.log.String(), "config reload rejected") && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if !strings.Contains(svc.log.String(), "Not_Valid") {
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
		got := map[string]string{}
		deadline := time.Now().Add(20 * time.Second)
		for (got["local"] == "" || got["second"] == "") && time.Now().Before(deadline) {
			if c, ok := res.next(time.Second).(events.SyncCompleted); ok {
				got[c.Source] = c.Reason
			}
		}
		if got["local"] != "filter-changed" || got["second"] != "registry-not-ready" {
			t.Errorf("completed reasons %v", got)
		}
	})
}
