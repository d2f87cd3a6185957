package events

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/regsync/regsync/schemas"
)

// eventsDoc is the events reference kept in step with schemas/.
const eventsDoc = "../docs/events.md"

// eventSchema is the data schema of one event type, as stored in schemas/.
type eventSchema struct {
	file string
	id   string
	doc  map[string]any
}

// eventSchemas reads every event data schema in schemas/, by the event
// type its title names ("io.regsync.sync.completed.v1 data").
func eventSchemas(t *testing.T) map[string]eventSchema {
	t.Helper()
	names, err := fs.Glob(schemas.FS(), "*.json")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]eventSchema{}
	for _, name := range names {
		b, err := schemas.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		typ, ok := strings.CutSuffix(doc["title"].(string), " data")
		if !ok {
			continue // not an event schema (the configuration's)
		}
		id, _ := doc["$id"].(string)
		out[typ] = eventSchema{file: name, id: id, doc: doc}
	}
	if len(out) == 0 {
		t.Fatal("no event schemas")
	}
	return out
}

// fieldPaths lists the property paths of a data schema: provider.name,
// diff.added.
func fieldPaths(schema map[string]any, prefix string) []string {
	var out []string
	props, _ := schema["properties"].(map[string]any)
	for name, p := range props {
		path := prefix + name
		out = append(out, path)
		if child, ok := p.(map[string]any); ok {
			out = append(out, fieldPaths(child, path+".")...)
		}
	}
	slices.Sort(out)
	return out
}

// docSections splits the reference into its "### `type`" sections.
func docSections(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(eventsDoc)
	if err != nil {
		t.Fatalf("%v (docs/ is part of the repository)", err)
	}
	sections := map[string]string{}
	heading := regexp.MustCompile("(?m)^### `([^`]+)`\\s*$")
	locs := heading.FindAllStringSubmatchIndex(string(b), -1)
	for i, loc := range locs {
		end := len(b)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		body := string(b[loc[1]:end])
		if next := strings.Index(body, "\n## "); next >= 0 {
			body = body[:next]
		}
		sections[string(b[loc[2]:loc[3]])] = body
	}
	return sections
}

var (
	fieldRow  = regexp.MustCompile("(?m)^\\| `([a-zA-Z.]+)` \\|")
	jsonBlock = regexp.MustCompile("(?s)```json\n(.*?)```")
)

func TestEventsReferenceMatchesSchemas(t *testing.T) {
	schemaOf := eventSchemas(t)
	sections := docSections(t)
	for typ := range sections {
		if _, ok := schemaOf[typ]; !ok {
			t.Errorf("%s documents %s, which has no schema in schemas/", eventsDoc, typ)
		}
	}
	for typ, s := range schemaOf {
		t.Run(typ, func(t *testing.T) {
			section, ok := sections[typ]
			if !ok {
				t.Fatalf("%s has no section ### `%s`", eventsDoc, typ)
			}

			var documented []string
			for _, m := range fieldRow.FindAllStringSubmatch(section, -1) {
				documented = append(documented, m[1])
			}
			slices.Sort(documented)
			if want := fieldPaths(s.doc, ""); !slices.Equal(documented, want) {
				t.Errorf("fields documented %v, %s has %v", documented, s.file, want)
			}

			subject := "`" + TriggerSubject("<source>") + "`"
			if outcome := OutcomeOf(typ); outcome != "" {
				subject = "`" + ResultSubject("<source>", outcome) + "`"
			}
			if typ == TypeRegistryChanged {
				subject = "`" + RegistrySubject("<registry>") + "`"
			}
			if !strings.Contains(strings.Join(strings.Fields(section), " "), "Subject: "+subject) {
				t.Errorf("the section does not say Subject: %s", subject)
			}

			examples := jsonBlock.FindAllStringSubmatch(section, -1)
			if len(examples) == 0 {
				t.Fatal("no example")
			}
			compiled := compileSchema(t, s)
			for _, ex := range examples {
				checkExample(t, typ, s, compiled, []byte(ex[1]))
			}
		})
	}
}

func compileSchema(t *testing.T, s eventSchema) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(s.id, s.doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(s.id)
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

// checkExample decodes an example as a structured message off NATS and
// checks its type, subject, dataschema and data.
func checkExample(t *testing.T, typ string, s eventSchema, sch *jsonschema.Schema, body []byte) {
	t.Helper()
	e, err := Decode(nats.Header{"Content-Type": []string{"application/cloudevents+json"}}, body)
	if err != nil {
		t.Fatalf("example does not decode: %v\n%s", err, body)
	}
	if e.Type() != typ {
		t.Errorf("example of type %s in the section of %s", e.Type(), typ)
	}
	if e.DataSchema() != s.id {
		t.Errorf("example dataschema %q, the schema's $id is %q", e.DataSchema(), s.id)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(e.Data()))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(inst); err != nil {
		t.Errorf("example data does not match %s: %v", s.file, err)
	}
	d, err := DataOf(e)
	if err != nil {
		t.Fatalf("example data: %v", err)
	}
	if err := d.Validate(); err != nil {
		t.Errorf("example data: %v", err)
	}
	if e.Subject() != d.SourceName() {
		t.Errorf("example subject %q, data source %q", e.Subject(), d.SourceName())
	}
}

// TestDocsNameEveryProducer keeps the producer names that the events
// reference lists in step with the Producer constants.
func TestDocsNameEveryProducer(t *testing.T) {
	file, err := parser.ParseFile(token.NewFileSet(), "names.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{ProducerWebhook("<provider>")}
	for _, decl := range file.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST {
			continue
		}
		for _, spec := range gen.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if strings.HasPrefix(name.Name, "Producer") && i < len(vs.Values) {
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok {
						want = append(want, strings.Trim(lit.Value, `"`))
					}
				}
			}
		}
	}
	doc, err := os.ReadFile(eventsDoc)
	if err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile("(?m)^\\| `source` \\|.*$").Find(doc)
	_, list, ok := strings.Cut(string(line), "producer ")
	list, _, _ = strings.Cut(list, ". ")
	if !ok {
		t.Fatalf("%s: the source row does not list the producers", eventsDoc)
	}
	var got []string
	for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(list, -1) {
		got = append(got, m[1])
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s lists the producers %v; the code names %v", eventsDoc, got, want)
	}
}

// TestStatusRecordsDocumented keeps the status record tables of the events
// reference in step with the record types: every JSON field is described,
// and every described field exists.
func TestStatusRecordsDocumented(t *testing.T) {
	b, err := os.ReadFile(eventsDoc)
	if err != nil {
		t.Fatalf("%v (docs/ is part of the repository)", err)
	}
	for heading, record := range map[string]reflect.Type{
		"Status record": reflect.TypeFor[Status](),
	} {
		t.Run(heading, func(t *testing.T) {
			_, section, ok := strings.Cut(string(b), "\n## "+heading+"\n")
			if !ok {
				t.Fatalf("%s has no %s section", eventsDoc, heading)
			}
			section, _, _ = strings.Cut(section, "\n## ")
			var documented []string
			name := regexp.MustCompile("`([a-zA-Z.]+)`")
			for _, line := range strings.Split(section, "\n") {
				if !strings.HasPrefix(line, "| `") {
					continue
				}
				for _, m := range name.FindAllStringSubmatch(strings.Split(line, "|")[1], -1) {
					documented = append(documented, m[1])
				}
			}
			slices.Sort(documented)
			var fields []string
			for name, f := range jsonFields(record) {
				fields = append(fields, name)
				if f.nested != nil {
					for nested := range jsonFields(f.nested) {
						fields = append(fields, name+"."+nested)
					}
				}
			}
			slices.Sort(fields)
			if !slices.Equal(documented, fields) {
				t.Errorf("%s documents the fields %v; %s has %v", eventsDoc, documented, record, fields)
			}
		})
	}
}
