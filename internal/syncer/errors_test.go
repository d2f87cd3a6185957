package syncer

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestFailuresListEveryError: Failures names each condition type and
// reason an Error of this package is built with.
func TestFailuresListEveryError(t *testing.T) {
	// The constants are defined in events, the public contract, and
	// named here as aliases.
	contract, err := os.ReadFile("../../events/status.go")
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]string{}
	for _, m := range regexp.MustCompile(`(Condition\w+)\s*=\s*"(\w+)"`).FindAllStringSubmatch(string(contract), -1) {
		values[m[1]] = m[2]
	}
	for _, m := range regexp.MustCompile(`(Condition\w+)\s*=\s*events\.(Condition\w+)`).FindAllStringSubmatch(readSources(t), -1) {
		if v, ok := values[m[2]]; ok {
			values[m[1]] = v
		}
	}
	// Errors are built as literals or through newError, whose last two
	// arguments are the condition type and reason.
	built := regexp.MustCompile(`(?:ConditionType:\s*|[,(]\s*)(Condition[A-Z]\w*),\s*(?:ConditionReason:\s*)?(ConditionReason\w+)\s*[)}]`).FindAllStringSubmatch(readSources(t), -1)
	if len(built) == 0 {
		t.Fatal("no Error literal found")
	}
	for _, m := range built {
		pair := struct{ ConditionType, ConditionReason string }{values[m[1]], values[m[2]]}
		if pair.ConditionType == "" || pair.ConditionReason == "" {
			t.Errorf("Error built with %s, %s: not constants of this package", m[1], m[2])
			continue
		}
		if !slices.Contains(Failures, pair) {
			t.Errorf("an Error is built with %s/%s, which Failures does not list", pair.ConditionType, pair.ConditionReason)
		}
	}
}

// readSources returns the non-test Go files of this package, joined.
func readSources(t *testing.T) string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(b)
	}
	return all.String()
}
