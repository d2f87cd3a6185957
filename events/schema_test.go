package events

import (
	"bytes"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/regsync/regsync/schemas"
)

// schemaFiles names the schema of each event type's data.
var schemaFiles = map[string]string{
	TypeSourceChanged:   "source-changed.v1.json",
	TypeSyncRequested:   "sync-requested.v1.json",
	TypeSyncCompleted:   "sync-completed.v1.json",
	TypeSyncFailed:      "sync-failed.v1.json",
	TypeSyncSkipped:     "sync-skipped.v1.json",
	TypeRegistryChanged: "registry-changed.v1.json",
}

// compileSchemas compiles the embedded schema of every event type, with
// formats such as date-time asserted.
func compileSchemas(t *testing.T) map[string]*jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	for _, name := range schemaFiles {
		b, err := schemas.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := c.AddResource(schemas.ID(name), doc); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	compiled := make(map[string]*jsonschema.Schema)
	for typ, name := range schemaFiles {
		sch, err := c.Compile(schemas.ID(name))
		if err != nil {
			t.Fatalf("compile %s: %v", name, err)
		}
		compiled[typ] = sch
	}
	return compiled
}

func validateAgainst(t *testing.T, sch *jsonschema.Schema, data []byte) error {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("data %s: %v", data, err)
	}
	return sch.Validate(inst)
}

func TestGoldenEvents(t *testing.T) {
	compiled := compileSchemas(t)
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden events: %v", err)
	}
	seen := make(map[string]bool)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			body, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			e, err := Decode(nil, body)
			if err != nil {
				t.Fatalf("Decode() = %v", err)
			}
			seen[e.Type()] = true
			if _, err := DataOf(e); err != nil {
				t.Fatalf("DataOf() = %v", err)
			}
			sch, ok := compiled[e.Type()]
			if !ok {
				t.Fatalf("no schema for event type %q", e.Type())
			}
			if err := validateAgainst(t, sch, e.Data()); err != nil {
				t.Errorf("data does not match %s: %v", schemaFiles[e.Type()], err)
			}
			if filepath.Base(file) != "sync-requested.manual-nats-pub.json" {
				// Published by regsync: the deployment's producer URI and the schema's $id.
				if u, err := url.Parse(e.Source()); err != nil || !u.IsAbs() || !strings.HasPrefix(e.Source(), "urn:regsync:") {
					t.Errorf("source %q is not a regsync producer URI (ProducerSource)", e.Source())
				}
				if e.DataSchema() != DataSchema(e.Type()) {
					t.Errorf("dataschema = %q, want %q", e.DataSchema(), DataSchema(e.Type()))
				}
			}
			if prefix := strings.TrimSuffix(schemaFiles[e.Type()], ".v1.json"); !strings.HasPrefix(filepath.Base(file), prefix) {
				t.Errorf("a %s event in a file not named %s*", e.Type(), prefix)
			}
		})
	}
	for typ := range schemaFiles {
		if !seen[typ] {
			t.Errorf("no golden event of type %s", typ)
		}
	}
}

func TestFullDataMatchesSchema(t *testing.T) {
	compiled := compileSchemas(t)
	for _, d := range fullData() {
		t.Run(d.EventType(), func(t *testing.T) {
			b, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			if err := validateAgainst(t, compiled[d.EventType()], b); err != nil {
				t.Errorf("%s does not match %s: %v", b, schemaFiles[d.EventType()], err)
			}
		})
	}
}

// TestSchemaRejectsWhatValidateRejects feeds the schemas data that Validate
// rejects, so that the schemas stay as strict as the Go code.
func TestSchemaRejectsWhatValidateRejects(t *testing.T) {
	compiled := compileSchemas(t)
	full := fullData()
	changed := full[0].(SourceChanged)
	completed := full[2].(SyncCompleted)
	failed := full[3].(SyncFailed)
	skipped := full[4].(SyncSkipped)
	registry := full[5].(RegistryChanged)
	for _, d := range []Data{
		with(changed, func(d *SourceChanged) { d.Source = "Tool.Hive" }),
		with(changed, func(d *SourceChanged) { d.Trigger = TriggerManual }),
		with(changed, func(d *SourceChanged) { d.Provider = nil }),
		with(changed, func(d *SourceChanged) { d.Trigger = TriggerFile }),
		with(changed, func(d *SourceChanged) { d.Provider = &Provider{Name: "sourcehut"} }),
		SyncRequested{Source: "toolhive", Trigger: TriggerWebhook},
		with(completed, func(d *SyncCompleted) { d.Reason = "up-to-date-no-policy" }),
		with(completed, func(d *SyncCompleted) { d.ServerCount = -1 }),
		with(completed, func(d *SyncCompleted) { d.Diff.Added = []string{""} }),
		with(skipped, func(d *SyncSkipped) { d.TriggerIDs, d.TriggerCount = ids(MaxCoveredIDs+1), MaxCoveredIDs+1 }),
		with(skipped, func(d *SyncSkipped) { d.Reason = "filter-changed" }),
		with(failed, func(d *SyncFailed) { d.AttemptCount = -1 }),
		with(failed, func(d *SyncFailed) { d.ConditionType = "Ready" }),
		with(failed, func(d *SyncFailed) { d.Reason = "" }),
		with(failed, func(d *SyncFailed) { d.Message = "" }),
		with(registry, func(d *RegistryChanged) { d.Registry = "My.Registry" }),
		with(registry, func(d *RegistryChanged) { d.Reason = "source-data-changed" }),
		with(registry, func(d *RegistryChanged) { d.Generation, d.PreviousGeneration = 0, 0 }),
		with(registry, func(d *RegistryChanged) { d.ViewDigest = "" }),
		with(registry, func(d *RegistryChanged) { d.Causes = []Cause{{Source: "up"}} }),
		with(registry, func(d *RegistryChanged) { d.Causes, d.CauseCount = make([]Cause, MaxCauses+1), MaxCauses+1 }),
		with(registry, func(d *RegistryChanged) { d.Diff.Added, d.Diff.AddedCount = ids(MaxDiffNames+1), MaxDiffNames+1 }),
		with(registry, func(d *RegistryChanged) { d.Diff.Skills = &ViewDiff{SourceChanged: []string{""}} }),
	} {
		if d.Validate() == nil {
			t.Fatalf("Validate() accepts %+v", d)
		}
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		if validateAgainst(t, compiled[d.EventType()], b) == nil {
			t.Errorf("%s accepts %s", schemaFiles[d.EventType()], b)
		}
	}
}

// TestSchemasMatchStructs keeps the schemas and the Go structs in step: every
// JSON field of a struct is a schema property and every property a field,
// and a property is required exactly when its field is not omitempty.
func TestSchemasMatchStructs(t *testing.T) {
	for _, d := range fullData() {
		t.Run(d.EventType(), func(t *testing.T) {
			b, err := schemas.Lookup(schemaFiles[d.EventType()])
			if err != nil {
				t.Fatal(err)
			}
			var schema map[string]any
			if err := json.Unmarshal(b, &schema); err != nil {
				t.Fatal(err)
			}
			compareStruct(t, reflect.TypeOf(d), schema, "")
		})
	}
}

func compareStruct(t *testing.T, typ reflect.Type, schema map[string]any, path string) {
	t.Helper()
	props, _ := schema["properties"].(map[string]any)
	var required []string
	for _, r := range asSlice(schema["required"]) {
		required = append(required, r.(string))
	}
	fields := jsonFields(typ)
	for name, f := range fields {
		prop, ok := props[name].(map[string]any)
		if !ok {
			t.Errorf("field %s%s of %s is not a schema property", path, name, typ)
			continue
		}
		if want := !f.omitempty; slices.Contains(required, name) != want {
			t.Errorf("property %s%s: required is %v, want %v (field omitempty: %v)", path, name, !want, want, f.omitempty)
		}
		if f.nested != nil {
			compareStruct(t, f.nested, prop, path+name+".")
		}
	}
	for name := range props {
		if _, ok := fields[name]; !ok {
			t.Errorf("schema property %s%s is not a field of %s", path, name, typ)
		}
	}
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

type jsonField struct {
	omitempty bool
	nested    reflect.Type // a struct field's type, other than time.Time
}

// jsonFields returns the JSON fields of struct type typ by name, with the
// fields of embedded structs promoted as encoding/json does.
func jsonFields(typ reflect.Type) map[string]jsonField {
	fields := make(map[string]jsonField)
	for f := range typ.Fields() {
		tag, hasTag := f.Tag.Lookup("json")
		if f.Anonymous && !hasTag {
			for name, nested := range jsonFields(f.Type) {
				fields[name] = nested
			}
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		jf := jsonField{omitempty: slices.Contains(strings.Split(opts, ","), "omitempty")}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[time.Time]() {
			jf.nested = ft
		}
		fields[name] = jf
	}
	return fields
}
