package state

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestStatusRecordDocumented keeps the status record table of the events
// reference in step with Status: every JSON field is described, and every
// described field exists.
func TestStatusRecordDocumented(t *testing.T) {
	const doc = "../../../docs/events.md"
	b, err := os.ReadFile(doc)
	if err != nil {
		t.Fatalf("%v (docs/ is part of the repository)", err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Status record\n")
	if !ok {
		t.Fatalf("%s has no Status record section", doc)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var documented []string
	name := regexp.MustCompile("`([a-zA-Z]+)`")
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		first := strings.Split(line, "|")[1]
		for _, m := range name.FindAllStringSubmatch(first, -1) {
			documented = append(documented, m[1])
		}
	}
	slices.Sort(documented)

	var fields []string
	st := reflect.TypeFor[Status]()
	for i := range st.NumField() {
		tag, _, _ := strings.Cut(st.Field(i).Tag.Get("json"), ",")
		if tag != "" && tag != "-" {
			fields = append(fields, tag)
		}
	}
	slices.Sort(fields)
	if !slices.Equal(documented, fields) {
		t.Errorf("%s documents the status fields %v; Status has %v", doc, documented, fields)
	}
}
