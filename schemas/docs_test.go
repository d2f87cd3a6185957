package schemas_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/schemas"
)

// configDoc is the configuration reference kept in step with
// config.schema.json.
const configDoc = "../docs/configuration.md"

// schemaKey is one property of the configuration, by its path in the file
// (sources[].git.branch), with its default when the schema gives one.
type schemaKey struct {
	path       string
	def        any
	hasDefault bool
}

// configKeys lists every property path of the configuration schema,
// following $refs into $defs and arrays into their items.
func configKeys(t *testing.T) []schemaKey {
	t.Helper()
	b, err := schemas.Lookup("config.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(b, &root); err != nil {
		t.Fatal(err)
	}
	defs, _ := root["$defs"].(map[string]any)
	resolve := func(n map[string]any) map[string]any {
		for {
			ref, ok := n["$ref"].(string)
			if !ok {
				return n
			}
			name, found := strings.CutPrefix(ref, "#/$defs/")
			target, ok := defs[name].(map[string]any)
			if !found || !ok {
				t.Fatalf("unresolvable $ref %s", ref)
			}
			merged := map[string]any{}
			for k, v := range target {
				merged[k] = v
			}
			for k, v := range n {
				if k != "$ref" {
					merged[k] = v
				}
			}
			n = merged
		}
	}
	var keys []schemaKey
	var walk func(n map[string]any, prefix string)
	walk = func(n map[string]any, prefix string) {
		n = resolve(n)
		if items, ok := n["items"].(map[string]any); ok {
			walk(items, prefix+"[]")
			return
		}
		props, _ := n["properties"].(map[string]any)
		names := make([]string, 0, len(props))
		for name := range props {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			p := name
			if prefix != "" {
				p = prefix + "." + name
			}
			child, _ := props[name].(map[string]any)
			child = resolve(child)
			def, has := child["default"]
			keys = append(keys, schemaKey{path: p, def: def, hasDefault: has})
			walk(child, p)
		}
	}
	walk(root, "")
	if len(keys) == 0 {
		t.Fatal("no keys in config.schema.json")
	}
	return keys
}

// docRow matches a reference table row: | `key` | type | default | ... |
var docRow = regexp.MustCompile("^\\| `([A-Za-z][A-Za-z0-9.\\[\\]]*)` \\|([^|]*)\\|([^|]*)\\|")

// docKeys reads the keys documented in a reference's tables, with their
// default cells.
func docKeys(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (docs/ is part of the repository)", err)
	}
	keys := map[string]string{}
	for i, line := range strings.Split(string(b), "\n") {
		m := docRow.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if _, dup := keys[m[1]]; dup {
			t.Errorf("%s:%d: %s documented twice", path, i+1, m[1])
		}
		keys[m[1]] = strings.TrimSpace(m[3])
	}
	return keys
}

// formatDefault writes a schema default as the reference shows it.
func formatDefault(v any) string {
	switch v := v.(type) {
	case string:
		if v == "" {
			return "`\"\"`"
		}
		return "`" + v + "`"
	case float64:
		return "`" + strconv.FormatFloat(v, 'f', -1, 64) + "`"
	case bool:
		return "`" + strconv.FormatBool(v) + "`"
	}
	b, _ := json.Marshal(v)
	return "`" + string(b) + "`"
}

func TestConfigReferenceMatchesSchema(t *testing.T) {
	keys := configKeys(t)
	doc := docKeys(t, configDoc)
	inSchema := map[string]bool{}
	for _, k := range keys {
		inSchema[k.path] = true
		def, ok := doc[k.path]
		if !ok {
			t.Errorf("%s is in config.schema.json but not in %s", k.path, configDoc)
			continue
		}
		if k.hasDefault && def != formatDefault(k.def) {
			t.Errorf("%s: the reference says default %s, the schema %s", k.path, def, formatDefault(k.def))
		}
	}
	for path := range doc {
		if !inSchema[path] {
			t.Errorf("%s documents %s, which config.schema.json does not have", configDoc, path)
		}
	}
}

var (
	// mdLink matches a Markdown link's target: [text](target).
	mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	// mdCode matches code blocks and spans, whose brackets are no links.
	mdCode = regexp.MustCompile("(?s)```.*?```|`[^`\n]*`")
)

// slug is GitHub's anchor for a heading: lower case, punctuation other
// than hyphens dropped, spaces as hyphens.
func slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestDocLinks follows every relative link of the README and docs/ to a
// file that exists and, with a #fragment, to a heading it has.
func TestDocLinks(t *testing.T) {
	pages, err := filepath.Glob("../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	pages = append(pages, "../README.md", "../deploy/README.md")
	for _, page := range pages {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		text := mdCode.ReplaceAllString(string(b), "")
		for _, m := range mdLink.FindAllStringSubmatch(text, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, fragment, _ := strings.Cut(target, "#")
			path := page
			if file != "" {
				path = filepath.Join(filepath.Dir(page), file)
			}
			content, err := os.ReadFile(path)
			if err != nil {
				if _, statErr := os.Stat(path); statErr == nil {
					continue // a directory
				}
				t.Errorf("%s links to %s, which does not exist", page, target)
				continue
			}
			if fragment == "" {
				continue
			}
			var found bool
			for _, line := range strings.Split(string(content), "\n") {
				if h, ok := strings.CutPrefix(line, "#"); ok && slug(strings.TrimLeft(h, "# ")) == fragment {
					found = true
				}
			}
			if !found {
				t.Errorf("%s links to %s: %s has no heading #%s", page, target, path, fragment)
			}
		}
	}
}

// yamlBlock matches a YAML code block of a page.
var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// TestConfigReferenceExamplesLoad loads every example of the configuration
// reference with regsync's own loader: a whole file as it is, a section
// with a minimal source added, and an indented source type as the type of
// a source. Files the examples name (git passwords, tokens) need not exist
// here.
func TestConfigReferenceExamplesLoad(t *testing.T) {
	b, err := os.ReadFile(configDoc)
	if err != nil {
		t.Fatal(err)
	}
	blocks := yamlBlock.FindAllStringSubmatch(string(b), -1)
	if len(blocks) == 0 {
		t.Fatal("no examples")
	}
	const minimalSource = "sources:\n  - name: example\n    file: {path: registry.json}\n    syncPolicy: {interval: 30m}\n"
	for i, m := range blocks {
		example := m[1]
		var file string
		switch {
		case strings.HasPrefix(example, "    "):
			file = "sources:\n  - name: example\n" + example + "    syncPolicy: {interval: 30m}\n"
		case strings.Contains(example, "\nsources:") || strings.HasPrefix(example, "sources:"):
			file = example
		default:
			file = example + minimalSource
		}
		// Parse reads none of the files an example names.
		if _, _, err := config.Parse([]byte(file)); err != nil {
			t.Errorf("example %d does not load: %v\n%s", i+1, err, example)
		}
	}
}

// TestReadmeLinksEveryDoc keeps the README the entry point to docs/.
func TestReadmeLinksEveryDoc(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	pages, err := filepath.Glob("../docs/*.md")
	if err != nil || len(pages) == 0 {
		t.Fatalf("no pages in docs/ (%v)", err)
	}
	for _, page := range pages {
		if !strings.Contains(string(readme), "](docs/"+filepath.Base(page)+")") {
			t.Errorf("README.md does not link docs/%s", filepath.Base(page))
		}
	}
}
