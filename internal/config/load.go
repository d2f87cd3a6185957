package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/regsync/regsync/internal/bounded"
)

// maxFileSize bounds the configuration file read by ReadFile.
const maxFileSize = 4 << 20

// ignoredSections are the top-level sections of the ToolHive Registry
// Server's configuration that regsync accepts and does not use.
var ignoredSections = []string{"database", "auth", "audit", "telemetry", "claims"}

// Load reads, parses and validates the configuration file at path. See
// Parse; errors are wrapped as "load config <path>: ...".
func Load(path string) (*Config, []string, error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("load config %s: %w", path, err)
	}
	cfg, warnings, err := Parse(data)
	if err != nil {
		return nil, warnings, fmt.Errorf("load config %s: %w", path, err)
	}
	return cfg, warnings, nil
}

// ReadFile reads the configuration file at path, refusing one larger
// than a configuration file can be, for Parse.
func ReadFile(path string) ([]byte, error) {
	return bounded.ReadFile(path, maxFileSize)
}

// Parse parses and validates a configuration file's content and fills in
// the defaults. The warnings (ignored sections, sources regsync does not
// sync) are returned even with an error. An error about the file's content
// is a *ValidationError listing every problem found: unknown keys, values
// of the wrong type and failed validation rules.
func Parse(data []byte) (*Config, []string, error) {
	root, err := parseYAML(data)
	if err != nil {
		return nil, nil, err
	}
	if root != nil && root.Kind != yaml.MappingNode && root.ShortTag() != "!!null" {
		// Not a configuration at all (a token or key file named by
		// mistake): say so without quoting any of it.
		return nil, nil, &ValidationError{Errs: []error{fmt.Errorf("line %d: want a mapping of configuration keys, got %s", root.Line, describeTag(strings.TrimPrefix(root.ShortTag(), "!!")))}}
	}

	var warnings []string
	var problems []error
	var w walker
	cfg := Default()
	// failed holds the paths of the values that did not decode. Left at
	// their default or zero, they are not validated again; nor, once a
	// value failed, is what names no key or sits under a key that could
	// not be told ("").
	var failed []string
	if root != nil {
		warnings = dropIgnoredSections(root)
		w = walker{visited: make(map[visit]bool), lines: make(map[string]int), scalars: make(map[string]string), values: make(map[position]string)}
		w.walk(root, reflect.TypeOf(cfg).Elem(), "")
		problems = w.problems
		if err := root.Decode(cfg); err != nil {
			var te *yaml.TypeError
			if !errors.As(err, &te) {
				return nil, warnings, yamlError(err, data)
			}
			for _, msg := range te.Errors {
				path, problem := w.typeProblem(msg)
				if cfg.unread(path) {
					continue
				}
				problems = append(problems, problem)
				failed = append(failed, path)
			}
		}
	}

	setSourceDefaults(cfg.Sources)
	vw, err := cfg.Validate()
	warnings = append(warnings, vw...)
	var ve *ValidationError
	if err != nil && !errors.As(err, &ve) {
		ve = &ValidationError{Errs: []error{err}}
	}
	if ve != nil {
		for _, e := range ve.Errs {
			path, located := w.locate(e)
			if len(failed) > 0 && (path == "" || under(path, failed)) {
				continue
			}
			problems = append(problems, located)
		}
	}
	if len(problems) > 0 {
		return nil, warnings, &ValidationError{Errs: problems}
	}
	return cfg, warnings, nil
}

// under reports whether path is one of paths or inside one of them.
func under(path string, paths []string) bool {
	for _, p := range paths {
		if p == "" || path == p || strings.HasPrefix(path, p+".") || strings.HasPrefix(path, p+"[") {
			return true
		}
	}
	return false
}

// unread reports whether the value at path is one the ToolHive Registry
// Server ignores without reading it, so that a value it could not parse
// is no problem either: the syncPolicy of a source regsync does not sync
// and file.timeout next to file.path.
func (c *Config) unread(path string) bool {
	i, key, ok := sourceKey(path)
	if !ok || i >= len(c.Sources) {
		return false
	}
	s := c.Sources[i]
	switch {
	case key == "syncPolicy" || strings.HasPrefix(key, "syncPolicy."):
		return typeCount(s) == 1 && !s.Synced()
	case key == "file.timeout":
		return s.File != nil && s.File.Path != "" && s.File.URL == ""
	}
	return false
}

// setSourceDefaults fills in the defaults of the sources' own settings,
// as Default does for regsync's sections.
func setSourceDefaults(sources []Source) {
	for i := range sources {
		if g := sources[i].Git; g != nil && g.Path == "" {
			g.Path = DefaultGitPath
		}
	}
}

// parseYAML parses the one YAML document in data into its root node, nil
// for an empty document.
func parseYAML(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, yamlError(err, data)
	}
	for {
		var next yaml.Node
		err := dec.Decode(&next)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, yamlError(err, data)
		}
		if !emptyDocument(&next) {
			return nil, fmt.Errorf("invalid YAML: line %d: a configuration file holds one YAML document, found another", next.Line)
		}
	}
	if emptyDocument(&doc) {
		return nil, nil
	}
	return doc.Content[0], nil
}

// emptyDocument reports whether a document holds nothing but comments.
func emptyDocument(doc *yaml.Node) bool {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return true
	}
	root := doc.Content[0]
	return root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" && root.Value == ""
}

// yamlError names the line of a YAML syntax error counting from one.
// yaml.v3 counts the lines of its parser errors (not of its scanner errors)
// from zero, and leaves out "line 0".
//
// Its messages never quote the file: a path that names a secret by
// mistake must not print it. The few of yaml.v3's messages that quote
// the document (an anchor's name) are told without it, the line found in
// data instead.
func yamlError(err error, data []byte) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, after, ok := strings.Cut(rest, ": "); ok {
			if v, err := strconv.Atoi(n); err == nil {
				line, msg = v, after
			}
		}
	}
	if zeroBasedProblems[msg] {
		line++
	}
	if m := anchorProblem.FindStringSubmatch(msg); m != nil {
		msg = m[1] + m[3]
		if i := bytes.Index(data, []byte("*"+m[2])); i >= 0 && line == 0 {
			line = bytes.Count(data[:i], []byte("\n")) + 1
		}
	}
	if line == 0 {
		return fmt.Errorf("invalid YAML: %s", msg)
	}
	return fmt.Errorf("invalid YAML: line %d: %s", line, msg)
}

// anchorProblem matches yaml.v3's messages that quote an anchor's name.
var anchorProblem = regexp.MustCompile(`^((?:unknown )?anchor) '(.*)'( referenced| value contains itself)$`)

// zeroBasedProblems are yaml.v3's parser errors.
var zeroBasedProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// dropIgnoredSections removes the ToolHive Registry Server's sections that
// regsync does not use from the top-level mapping and returns one warning
// for each.
func dropIgnoredSections(root *yaml.Node) []string {
	if root.Kind != yaml.MappingNode {
		return nil
	}
	var warnings []string
	seen := make(map[string]bool)
	kept := root.Content[:0:0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		key := root.Content[i]
		if name, ok := ignoredSection(key); ok {
			if !seen[name] {
				seen[name] = true
				warnings = append(warnings, fmt.Sprintf("ignoring section %q: regsync does not use it", name))
			}
			continue
		}
		kept = append(kept, root.Content[i], root.Content[i+1])
	}
	root.Content = kept
	return warnings
}

func ignoredSection(key *yaml.Node) (string, bool) {
	if key.Kind != yaml.ScalarNode {
		return "", false
	}
	for _, name := range ignoredSections {
		if strings.EqualFold(key.Value, name) {
			return name, true
		}
	}
	return "", false
}

// walker checks a YAML tree against the Go type it will be decoded into. It
// reports every key that matches no field, and every key given twice, with
// its line and where it sits. Keys match the yaml tag names
// case-insensitively and are rewritten to the tag's spelling so the decoder
// that follows finds them.
type walker struct {
	problems []error
	visited  map[visit]bool
	// lines holds the line of every key and list item, by path (such as
	// "sources[0].git.repository"), for the line numbers of later problems.
	lines map[string]int
	// scalars holds the value of every scalar, by path, for messages.
	scalars map[string]string
	// values holds the path of every value, by where it starts, for the
	// problems of the values that refuse themselves (see valueError).
	values map[position]string
}

// position is where a node starts in the file.
type position struct{ line, column int }

// visit is a node checked against a type, remembered so that a node reached
// again through an alias is checked and reported only once.
type visit struct {
	node *yaml.Node
	typ  reflect.Type
}

func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return
		}
		n = n.Alias
	}
	v := visit{n, t}
	if w.visited[v] {
		return
	}
	w.visited[v] = true
	if _, ok := w.lines[path]; !ok && path != "" {
		w.lines[path] = n.Line
	}
	if n.Kind == yaml.ScalarNode && path != "" {
		w.scalars[path] = n.Value
	}
	if pos := (position{n.Line, n.Column}); path != "" && w.values[pos] == "" {
		w.values[pos] = path
	}

	switch t.Kind() {
	case reflect.Struct:
		if n.Kind == yaml.MappingNode && !implementsUnmarshaler(t) {
			w.walkMapping(n, t, path)
		}
	case reflect.Slice, reflect.Array:
		if n.Kind == yaml.SequenceNode {
			for i, item := range n.Content {
				w.walk(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
}

func (w *walker) walkMapping(n *yaml.Node, t reflect.Type, path string) {
	fields := yamlFields(t)
	first := make(map[string]*yaml.Node)
	kept := n.Content[:0:0]
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, value := n.Content[i], n.Content[i+1]
		if isMergeKey(key) {
			w.walkMerge(value, t, path)
			kept = append(kept, key, value)
			continue
		}
		if key.Kind != yaml.ScalarNode {
			w.problems = append(w.problems, fmt.Errorf("line %d: a key %s is not a plain name", key.Line, where(path)))
			continue
		}
		f, ok := fields[strings.ToLower(key.Value)]
		if !ok {
			w.problems = append(w.problems, fmt.Errorf("line %d: unknown key %q %s", key.Line, key.Value, where(path)))
			continue
		}
		if prev, dup := first[f.name]; dup {
			w.problems = append(w.problems, fmt.Errorf("line %d: key %q %s is already set at line %d", key.Line, key.Value, where(path), prev.Line))
			continue
		}
		first[f.name] = key
		key.Value = f.name
		if _, ok := w.lines[join(path, f.name)]; !ok {
			w.lines[join(path, f.name)] = key.Line
		}
		w.walk(value, f.typ, join(path, f.name))
		kept = append(kept, key, value)
	}
	n.Content = kept
}

// walkMerge checks the mappings merged in with "<<".
func (w *walker) walkMerge(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		w.walk(n, t, path)
	case yaml.SequenceNode:
		for _, item := range n.Content {
			if item.Kind == yaml.AliasNode && item.Alias != nil {
				item = item.Alias
			}
			if item.Kind == yaml.MappingNode {
				w.walk(item, t, path)
			}
		}
	}
}

func isMergeKey(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Value == "<<" && n.ShortTag() == "!!merge"
}

func where(path string) string {
	if path == "" {
		return "at top level"
	}
	return "in " + path
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

type field struct {
	name string
	typ  reflect.Type
}

// yamlFields maps the lower-cased yaml names of t's fields to their
// spelling and type.
func yamlFields(t reflect.Type) map[string]field {
	fields := make(map[string]field, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[strings.ToLower(name)] = field{name: name, typ: f.Type}
	}
	return fields
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

func implementsUnmarshaler(t reflect.Type) bool {
	return t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType)
}

// locate puts the line of the key a validation problem is about in front of
// it, when the file has that key (or, for a missing key, the section it
// belongs in), and returns that key's path, "" when the file has none.
// Problems name keys as paths: "nats.replicas ...",
// "source[0] (name): git.repository ...".
func (w *walker) locate(err error) (path string, located error) {
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "source["); ok {
		i, after, ok := strings.Cut(rest, "]")
		if !ok {
			return "", err
		}
		path = "sources[" + i + "]"
		if _, key, ok := strings.Cut(after, ": "); ok {
			if field, _, _ := strings.Cut(key, " "); strings.Contains(field, ".") {
				path += "." + strings.TrimSuffix(field, ":")
			}
		}
	} else {
		path, _, _ = strings.Cut(msg, " ")
		path = strings.TrimSuffix(path, ":")
	}
	for path != "" {
		if line, ok := w.lines[path]; ok {
			return path, fmt.Errorf("line %d: %w", line, err)
		}
		cut := strings.LastIndexAny(path, ".[")
		if cut < 0 {
			break
		}
		path = path[:cut]
	}
	return "", err
}

// valueError is the error of an UnmarshalYAML refusing the value n. Parse
// puts the value's key in front of the message, which reads on from it:
// "must be greater than zero".
func valueError(n *yaml.Node, format string, args ...any) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d column %d: %s", n.Line, n.Column, fmt.Sprintf(format, args...))}}
}

var valueProblem = regexp.MustCompile(`^line (\d+) column (\d+): (.*)$`)

// key names the key at path in a problem as validation does: sources by
// index and name ("source[0] (name): git.pollInterval"), others by path.
func (w *walker) key(path string) string {
	i, key, ok := sourceKey(path)
	if !ok {
		return path
	}
	return prefix(i, w.scalars["sources["+strconv.Itoa(i)+"].name"]) + ": " + key
}

// sourceKey splits a path inside a source, "sources[3].git.branch", into
// the source's index and its own key, "git.branch".
func sourceKey(path string) (int, string, bool) {
	rest, ok := strings.CutPrefix(path, "sources[")
	if !ok {
		return 0, "", false
	}
	index, key, ok := strings.Cut(rest, "].")
	i, err := strconv.Atoi(index)
	if !ok || err != nil {
		return 0, "", false
	}
	return i, key, true
}

var (
	typeErrorWithValue = regexp.MustCompile("^line (\\d+): cannot unmarshal !!(\\w+) `(.*)` into (.+)$")
	typeError          = regexp.MustCompile(`^line (\d+): cannot unmarshal !!(\w+) into (.+)$`)
)

// typeProblem rewrites a value's decoding error for people and returns
// the path of its key. One of yaml.v3's type errors ("line 5: cannot
// unmarshal !!str `three` into int") becomes the key, what it wants and
// what it got, without Go type names; a valueError gets its key.
func (w *walker) typeProblem(msg string) (path string, problem error) {
	if m := valueProblem.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		column, _ := strconv.Atoi(m[2])
		path = w.values[position{line, column}]
		if path == "" {
			return "", fmt.Errorf("line %d: %s", line, m[3])
		}
		return path, fmt.Errorf("line %d: %s %s", line, w.key(path), m[3])
	}
	var line, tag, value, goType string
	if m := typeErrorWithValue.FindStringSubmatch(msg); m != nil {
		line, tag, value, goType = m[1], m[2], m[3], m[4]
	} else if m := typeError.FindStringSubmatch(msg); m != nil {
		line, tag, goType = m[1], m[2], m[3]
	} else {
		return "", errors.New(msg)
	}
	got := describeTag(tag)
	key := ""
	if n, err := strconv.Atoi(line); err == nil {
		// The deepest key on that line is the one whose value is wrong.
		for p, l := range w.lines {
			if l == n && len(p) > len(key) {
				key = p
			}
		}
	}
	if full, ok := w.scalars[key]; ok && value != "" {
		value = full // yaml.v3 shortens long values
	}
	if value != "" {
		got += " " + strconv.Quote(value)
	}
	path = key
	if key != "" {
		key += ": "
	}
	return path, fmt.Errorf("line %s: %swant %s, got %s", line, key, describeType(goType), got)
}

// describeTag names what a YAML tag (without "!!") holds, for messages.
func describeTag(tag string) string {
	got := map[string]string{"str": "a string", "int": "a number", "float": "a number", "bool": "true or false",
		"seq": "a list", "map": "a mapping", "null": "nothing", "binary": "binary data", "timestamp": "a timestamp"}[tag]
	if got == "" {
		got = "a " + tag
	}
	return got
}

// describeNode names what a node holds, with a scalar's value: `a string
// "soon"`, "a list".
func describeNode(n *yaml.Node) string {
	got := describeTag(strings.TrimPrefix(n.ShortTag(), "!!"))
	if n.Kind == yaml.ScalarNode && n.Value != "" {
		got += " " + strconv.Quote(n.Value)
	}
	return got
}

// describeType names what a Go type holds in YAML terms.
func describeType(goType string) string {
	switch {
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "int") || strings.HasPrefix(goType, "uint"):
		return "a whole number"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "[]string":
		return "a list of strings"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	}
	return "a mapping"
}
