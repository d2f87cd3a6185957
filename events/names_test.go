package events

import (
	"net/url"
	"strings"
	"testing"

	"github.com/regsync/regsync/schemas"
)

func TestSubjects(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"trigger", TriggerSubject("toolhive"), "regsync.trigger.toolhive"},
		{"completed result", ResultSubject("toolhive", OutcomeCompleted), "regsync.result.toolhive.completed"},
		{"failed result", ResultSubject("mcp-registry", OutcomeFailed), "regsync.result.mcp-registry.failed"},
		{"skipped result", ResultSubject("a", OutcomeSkipped), "regsync.result.a.skipped"},
		{"results of one source", SourceResults("toolhive"), "regsync.result.toolhive.*"},
		{"all triggers", AllTriggers, "regsync.trigger.*"},
		{"all results", AllResults, "regsync.result.*.*"},
		{"registry changed", RegistrySubject("default"), "regsync.registry.default.changed"},
		{"all registry changes", AllRegistryChanges, "regsync.registry.*.changed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func TestSourceFromSubject(t *testing.T) {
	tests := []struct {
		subject string
		want    string
		ok      bool
	}{
		{"regsync.trigger.toolhive", "toolhive", true},
		{"regsync.result.toolhive.completed", "toolhive", true},
		{"regsync.result.mcp-registry.failed", "mcp-registry", true},
		{"regsync.result.x1.skipped", "x1", true},
		{"regsync.trigger.", "", false},
		{"regsync.trigger.*", "", false},
		{"regsync.trigger.>", "", false},
		{"regsync.trigger.tool.hive", "", false},
		{"regsync.trigger.ToolHive", "", false},
		{"regsync.result.toolhive", "", false},
		{"regsync.result.toolhive.done", "", false},
		{"regsync.result.toolhive.completed.extra", "", false},
		{"regsync.result.*.completed", "", false},
		{"regsync.result..completed", "", false},
		{"other.trigger.toolhive", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.subject, func(t *testing.T) {
			got, ok := SourceFromSubject(tt.subject)
			if got != tt.want || ok != tt.ok {
				t.Errorf("SourceFromSubject(%q) = %q, %v; want %q, %v", tt.subject, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestRegistryFromSubject(t *testing.T) {
	tests := []struct {
		subject string
		want    string
		ok      bool
	}{
		{RegistrySubject("default"), "default", true},
		{"regsync.registry.team-a.changed", "team-a", true},
		{"regsync.registry.*.changed", "", false},
		{"regsync.registry..changed", "", false},
		{"regsync.registry.Default.changed", "", false},
		{"regsync.registry.a.b.changed", "", false},
		{"regsync.registry.default", "", false},
		{"regsync.registry.default.removed", "", false},
		{"regsync.result.default.completed", "", false},
		{"regsync.trigger.default", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.subject, func(t *testing.T) {
			got, ok := RegistryFromSubject(tt.subject)
			if got != tt.want || ok != tt.ok {
				t.Errorf("RegistryFromSubject(%q) = %q, %v; want %q, %v", tt.subject, got, ok, tt.want, tt.ok)
			}
		})
	}
	if _, ok := SourceFromSubject(RegistrySubject("default")); ok {
		t.Errorf("SourceFromSubject reads a source from the registry subject %s", RegistrySubject("default"))
	}
}

func TestSourceFromSubjectInvertsSubjectFunctions(t *testing.T) {
	for _, subject := range []string{
		TriggerSubject("toolhive"),
		ResultSubject("toolhive", OutcomeCompleted),
		ResultSubject("toolhive", OutcomeFailed),
		ResultSubject("toolhive", OutcomeSkipped),
	} {
		if got, ok := SourceFromSubject(subject); !ok || got != "toolhive" {
			t.Errorf("SourceFromSubject(%q) = %q, %v", subject, got, ok)
		}
	}
}

func TestValidSourceName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"toolhive", true},
		{"a", true},
		{"0", true},
		{"mcp-registry-2", true},
		{strings.Repeat("a", 63), true},
		{strings.Repeat("a", 64), false},
		{"", false},
		{"-toolhive", false},
		{"toolhive-", false},
		{"Toolhive", false},
		{"tool_hive", false},
		{"tool.hive", false},
		{"tool hive", false},
		{"*", false},
		{">", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidSourceName(tt.name); got != tt.want {
				t.Errorf("ValidSourceName(%q) = %v, want %v", tt.name, got, tt.want)
			}
		})
	}
}

func TestOutcomeOf(t *testing.T) {
	tests := []struct {
		eventType, want string
	}{
		{TypeSyncCompleted, OutcomeCompleted},
		{TypeSyncFailed, OutcomeFailed},
		{TypeSyncSkipped, OutcomeSkipped},
		{TypeSourceChanged, ""},
		{TypeSyncRequested, ""},
		{"io.regsync.sync.completed.v2", ""},
	}
	for _, tt := range tests {
		t.Run(tt.eventType, func(t *testing.T) {
			if got := OutcomeOf(tt.eventType); got != tt.want {
				t.Errorf("OutcomeOf(%q) = %q, want %q", tt.eventType, got, tt.want)
			}
		})
	}
}

func TestProducerSource(t *testing.T) {
	tests := []struct{ deployment, producer, want string }{
		{"k7c2m9q4x1z8v3b6n5w0t2r7y4", ProducerCoordinator, "urn:regsync:k7c2m9q4x1z8v3b6n5w0t2r7y4:coordinator"},
		{"d1", ProducerWebhook(ProviderGitHub), "urn:regsync:d1:webhook/github"},
	}
	for _, tt := range tests {
		got := ProducerSource(tt.deployment, tt.producer)
		if got != tt.want {
			t.Errorf("ProducerSource(%q, %q) = %q, want %q", tt.deployment, tt.producer, got, tt.want)
		}
		u, err := url.Parse(got)
		if err != nil || !u.IsAbs() {
			t.Errorf("%q is not an absolute URI (%v)", got, err)
		}
	}
}

func TestDataSchema(t *testing.T) {
	for _, typ := range []string{TypeSourceChanged, TypeSyncRequested, TypeSyncCompleted, TypeSyncFailed, TypeSyncSkipped, TypeRegistryChanged} {
		id := DataSchema(typ)
		b, err := schemas.LookupID(id)
		if err != nil {
			t.Errorf("DataSchema(%s) = %q: %v", typ, id, err)
			continue
		}
		if !strings.Contains(string(b), `"title": "`+typ+` data"`) {
			t.Errorf("DataSchema(%s) = %q, the schema of another type", typ, id)
		}
	}
	if got := DataSchema("com.example.other.v1"); got != "" {
		t.Errorf("DataSchema of an unknown type = %q, want empty", got)
	}
}
