package deploy

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

const promDir = "prometheus"

// TestAlertRulesPassTheirUnitTests runs `promtool test rules` on
// alerts_test.yaml. promtool is not needed to build or test regsync: the
// test is skipped without it.
func TestAlertRulesPassTheirUnitTests(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not on PATH (it comes with Prometheus, e.g. Debian's prometheus package): deploy/prometheus/alerts.yaml is not unit-tested")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool, "test", "rules", "alerts_test.yaml")
	cmd.Dir = promDir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool test rules: %v\n%s", err, out)
	}
}

// TestEveryAlertIsUnitTested: each rule of alerts.yaml has a case in
// alerts_test.yaml where it fires, whether or not promtool is here to run
// them.
func TestEveryAlertIsUnitTested(t *testing.T) {
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `json:"alert"`
			} `json:"rules"`
		} `json:"groups"`
	}
	var tests struct {
		RuleFiles []string `json:"rule_files"`
		Tests     []struct {
			AlertRuleTest []struct {
				Alertname string            `json:"alertname"`
				ExpAlerts []json.RawMessage `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	readYAML(t, filepath.Join(promDir, "alerts.yaml"), &rules)
	readYAML(t, filepath.Join(promDir, "alerts_test.yaml"), &tests)
	if len(tests.RuleFiles) != 1 || tests.RuleFiles[0] != "alerts.yaml" {
		t.Errorf("alerts_test.yaml tests %v, want [alerts.yaml]", tests.RuleFiles)
	}
	fires := map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			}
		}
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			if !fires[r.Alert] {
				t.Errorf("alert %s has no case in alerts_test.yaml where it fires", r.Alert)
			}
		}
	}
	if n == 0 {
		t.Fatal("no alert rule read from alerts.yaml")
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
