package registry

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	upstreamv0 "github.com/modelcontextprotocol/registry/pkg/api/v0"
	thvregistry "github.com/stacklok/toolhive-core/registry/types"
)

func TestNameFilter(t *testing.T) {
	tests := []struct {
		name    string
		entry   string
		include []string
		exclude []string
		want    bool
	}{
		{"no patterns include", "any-server", []string{}, []string{}, true},
		{"nil patterns include", "any-server", nil, nil, true},
		{"exact include", "postgres-server", []string{"postgres-server"}, nil, true},
		{"glob include", "postgres-server", []string{"postgres-*"}, nil, true},
		{"first of several includes", "postgres-server", []string{"postgres-*", "mysql-*"}, nil, true},
		{"second of several includes", "mysql-server", []string{"postgres-*", "mysql-*"}, nil, true},
		{"no include matches", "redis-server", []string{"postgres-*", "mysql-*"}, nil, false},
		{"exclude matches", "server-experimental", nil, []string{"*-experimental", "*-deprecated"}, false},
		{"no exclude matches", "stable-server", nil, []string{"*-experimental", "*-deprecated"}, true},
		{"exclude beats include", "postgres-experimental", []string{"postgres-*"}, []string{"*-experimental"}, false},
		{"include without exclude match", "postgres-stable", []string{"postgres-*"}, []string{"*-experimental"}, true},
		{"neither include nor exclude matches", "redis-stable", []string{"postgres-*"}, []string{"*-experimental"}, false},
		{"star crosses slash", "io.github.stacklok/context7-remote", []string{"io.github.stacklok/context7*"}, []string{"*-remote"}, false},
		{"star crosses slash in include", "io.github.stacklok/fetch", []string{"*fetch"}, nil, true},
		{"question mark matches one character", "db1", []string{"db?"}, nil, true},
		{"question mark matches only one character", "database", []string{"db?"}, nil, false},
		{"class matches", "db1", []string{"db[0-9]"}, nil, true},
		{"class does not match", "dba", []string{"db[0-9]"}, nil, false},
		{"negated class", "dba", []string{"db[!0-9]"}, nil, true},
		{"alternation", "io.test/mysql", []string{"io.test/{postgres,mysql}"}, nil, true},
		{"escaped star is literal", "io.test/a*", []string{`io.test/a\*`}, nil, true},
		{"escaped star matches only a star", "io.test/ab", []string{`io.test/a\*`}, nil, false},
		{"case-sensitive", "io.test/Postgres", []string{"io.test/postgres"}, nil, false},
		{"star matches empty name", "", []string{"*"}, nil, true},
		{"empty pattern matches only empty name", "server", []string{""}, nil, false},
		{"empty pattern matches empty name", "", []string{""}, nil, true},
		{"malformed include excludes", "test", []string{"["}, nil, false},
		{"malformed exclude excludes", "test", nil, []string{"["}, false},
		{"malformed exclude excludes even with include match", "test", []string{"*"}, []string{"["}, false},
		{"include match before malformed include", "test", []string{"t*", "["}, nil, true},
		{"malformed include before include match", "test", []string{"[", "t*"}, nil, false},
		{"range the glob library rejects excludes", "test", nil, []string{"[z-a]"}, false},
		// gobwas/glob reads an unclosed "{" as a literal-ish pattern; the
		// reference behaves the same.
		{"unclosed alternation is accepted", "test", []string{"{test"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := compileNames(&PatternSet{Include: tt.include, Exclude: tt.exclude})
			if got := m.match(tt.entry); got != tt.want {
				t.Errorf("match(%q) with include %q exclude %q = %v, want %v", tt.entry, tt.include, tt.exclude, got, tt.want)
			}
		})
	}
	t.Run("nil pattern set includes", func(t *testing.T) {
		if !compileNames(nil).match("anything") {
			t.Error("nil PatternSet must include")
		}
	})
}

func TestTagFilter(t *testing.T) {
	complexTags := []string{"database", "sql", "postgresql", "backend", "stable"}
	tests := []struct {
		name    string
		tags    []string
		include []string
		exclude []string
		want    bool
	}{
		{"no lists include", []string{"database"}, nil, nil, true},
		{"empty lists include", []string{"database"}, []string{}, []string{}, true},
		{"single include matches", []string{"database", "sql"}, []string{"database"}, nil, true},
		{"one of several includes matches", []string{"web"}, []string{"database", "web"}, nil, true},
		{"no include matches", []string{"cache"}, []string{"database", "web"}, nil, false},
		{"no tags with include", nil, []string{"database"}, nil, false},
		{"exclude matches", []string{"database", "deprecated"}, nil, []string{"deprecated"}, false},
		{"no exclude matches", []string{"database"}, nil, []string{"deprecated"}, true},
		{"no tags with exclude", nil, nil, []string{"deprecated"}, true},
		{"exclude beats include", []string{"database", "deprecated"}, []string{"database"}, []string{"deprecated"}, false},
		{"case-sensitive", []string{"Database"}, []string{"database"}, nil, false},
		{"no globs", []string{"database"}, []string{"data*"}, nil, false},
		{"complex set included", complexTags, []string{"database", "web"}, []string{"deprecated", "experimental"}, true},
		{"complex set excluded", append(slices.Clone(complexTags), "experimental"), []string{"database", "web"}, []string{"deprecated", "experimental"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := compileTags(&PatternSet{Include: tt.include, Exclude: tt.exclude}).match(tt.tags); got != tt.want {
				t.Errorf("match(%q) with include %q exclude %q = %v, want %v", tt.tags, tt.include, tt.exclude, got, tt.want)
			}
		})
	}
}

// testServer builds a server entry whose tags sit where ToolHive puts them.
func testServer(name string, tags ...string) upstreamv0.ServerJSON {
	list := make([]any, len(tags))
	for i, tag := range tags {
		list[i] = tag
	}
	return upstreamv0.ServerJSON{
		Name:        name,
		Description: "test server",
		Version:     "1.0.0",
		Meta: &upstreamv0.ServerMeta{PublisherProvided: map[string]any{
			"io.github.stacklok": map[string]any{
				"ghcr.io/test/" + name + ":latest": map[string]any{"status": "active", "tags": list},
			},
		}},
	}
}

func testRegistry(servers ...upstreamv0.ServerJSON) *thvregistry.UpstreamRegistry {
	return &thvregistry.UpstreamRegistry{
		Schema:  thvregistry.UpstreamRegistrySchemaURL,
		Version: "1.0.0",
		Meta:    thvregistry.UpstreamMeta{LastUpdated: "2025-01-01T00:00:00Z"},
		Data:    thvregistry.UpstreamData{Servers: servers},
	}
}

func serverNames(reg *thvregistry.UpstreamRegistry) []string {
	names := make([]string, 0, len(reg.Data.Servers))
	for _, s := range reg.Data.Servers {
		names = append(names, s.Name)
	}
	return names
}

func TestApply(t *testing.T) {
	nameRegistry := testRegistry(
		testServer("io.test/postgres-server", "database"),
		testServer("io.test/mysql-server", "database"),
		testServer("io.test/redis-experimental", "cache"),
		testServer("io.test/web-api", "web"),
		testServer("io.test/admin-experimental", "admin"),
	)
	tagRegistry := testRegistry(
		testServer("io.test/postgres-server", "database", "sql"),
		testServer("io.test/mysql-server", "database", "deprecated"),
		testServer("io.test/redis-server", "cache"),
		testServer("io.test/web-api", "web", "api"),
		testServer("io.test/legacy-api", "web", "deprecated"),
	)
	combinedRegistry := testRegistry(
		testServer("io.test/postgres-server", "database", "sql"),
		testServer("io.test/postgres-experimental", "database", "experimental"),
		testServer("io.test/web-server", "web", "api"),
		testServer("io.test/database-api", "database", "api"),
	)
	tests := []struct {
		name   string
		reg    *thvregistry.UpstreamRegistry
		filter *Filter
		want   []string
	}{
		{"name include", nameRegistry, &Filter{Names: &PatternSet{Include: []string{"*/postgres-*"}}},
			[]string{"io.test/postgres-server"}},
		{"name exclude", nameRegistry, &Filter{Names: &PatternSet{Exclude: []string{"*/*-experimental"}}},
			[]string{"io.test/postgres-server", "io.test/mysql-server", "io.test/web-api"}},
		{"name exclude beats include", nameRegistry, &Filter{Names: &PatternSet{Include: []string{"*/*-server"}, Exclude: []string{"*/*-experimental"}}},
			[]string{"io.test/postgres-server", "io.test/mysql-server"}},
		{"tag include", tagRegistry, &Filter{Tags: &PatternSet{Include: []string{"database"}}},
			[]string{"io.test/postgres-server", "io.test/mysql-server"}},
		{"tag exclude", tagRegistry, &Filter{Tags: &PatternSet{Exclude: []string{"deprecated"}}},
			[]string{"io.test/postgres-server", "io.test/redis-server", "io.test/web-api"}},
		{"tag exclude beats include", tagRegistry, &Filter{Tags: &PatternSet{Include: []string{"database"}, Exclude: []string{"deprecated"}}},
			[]string{"io.test/postgres-server"}},
		{"names and tags combined", combinedRegistry, &Filter{
			Names: &PatternSet{Include: []string{"*/postgres-*", "*/*-api"}, Exclude: []string{"*/*-experimental"}},
			Tags:  &PatternSet{Include: []string{"database"}, Exclude: []string{}},
		}, []string{"io.test/postgres-server", "io.test/database-api"}},
		{"empty filter keeps everything", tagRegistry, &Filter{}, serverNames(tagRegistry)},
		{"empty pattern sets keep everything", tagRegistry, &Filter{Names: &PatternSet{}, Tags: &PatternSet{}}, serverNames(tagRegistry)},
		{"empty registry", testRegistry(), &Filter{Names: &PatternSet{Include: []string{"*/postgres-*"}}}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Apply(tt.reg, tt.filter)
			if got == tt.reg {
				t.Fatal("a non-nil filter must return a new registry")
			}
			if names := serverNames(got); !slices.Equal(names, tt.want) {
				t.Errorf("servers = %q, want %q", names, tt.want)
			}
			if got.Data.Servers == nil || got.Data.Skills == nil || got.Data.Plugins == nil {
				t.Error("filtered slices must be non-nil")
			}
			if got.Schema != tt.reg.Schema || got.Version != tt.reg.Version || got.Meta != tt.reg.Meta {
				t.Errorf("header = %q %q %+v, want %q %q %+v", got.Schema, got.Version, got.Meta, tt.reg.Schema, tt.reg.Version, tt.reg.Meta)
			}
		})
	}

	t.Run("nil filter returns the same registry", func(t *testing.T) {
		if got := Apply(nameRegistry, nil); got != nameRegistry {
			t.Error("Apply(reg, nil) must return reg itself")
		}
	})
	t.Run("metadata preserved", func(t *testing.T) {
		reg := testRegistry(testServer("io.test/test-server", "test"))
		reg.Version = "2.5.3"
		reg.Meta.LastUpdated = "2023-12-15T14:30:00Z"
		got := Apply(reg, &Filter{Names: &PatternSet{Include: []string{"*/*"}}})
		if got.Version != "2.5.3" || got.Meta.LastUpdated != "2023-12-15T14:30:00Z" || len(got.Data.Servers) != 1 {
			t.Errorf("got version %q, last_updated %q, %d servers", got.Version, got.Meta.LastUpdated, len(got.Data.Servers))
		}
	})
	t.Run("string publisher-provided values do not panic", func(t *testing.T) {
		server := upstreamv0.ServerJSON{
			Name: "ai.smithery/test-server", Description: "d", Version: "1.0.0",
			Meta: &upstreamv0.ServerMeta{PublisherProvided: map[string]any{
				"someKey":  "someStringValue",
				"provider": map[string]any{"metadata": map[string]any{"tags": []any{"tag1", "tag2"}}},
			}},
		}
		got := Apply(testRegistry(server), &Filter{
			Names: &PatternSet{Exclude: []string{"ai.smithery/*"}},
			Tags:  &PatternSet{Include: []string{"tag1"}},
		})
		if len(got.Data.Servers) != 0 {
			t.Errorf("servers = %q, want none", serverNames(got))
		}
	})
	t.Run("skills and plugins filtered by namespace/name", func(t *testing.T) {
		reg := testRegistry(testServer("io.test/one", "database"))
		reg.Data.Skills = []thvregistry.Skill{
			{Namespace: "io.github.test", Name: "pdf-processor", Version: "1.0.0", Description: "d"},
			{Namespace: "io.github.other", Name: "code-review", Version: "1.0.0", Description: "d"},
		}
		reg.Data.Plugins = []thvregistry.Plugin{
			{Namespace: "io.github.test", Name: "lint", Version: "1.0.0", Description: "d"},
			{Namespace: "io.github.other", Name: "format", Version: "1.0.0", Description: "d"},
		}
		got := Apply(reg, &Filter{
			Names: &PatternSet{Exclude: []string{"io.github.test/*"}},
			Tags:  &PatternSet{Include: []string{"nothing-has-this"}},
		})
		if len(got.Data.Skills) != 1 || got.Data.Skills[0].Namespace != "io.github.other" {
			t.Errorf("skills = %+v, want only io.github.other/code-review", got.Data.Skills)
		}
		if len(got.Data.Plugins) != 1 || got.Data.Plugins[0].Namespace != "io.github.other" {
			t.Errorf("plugins = %+v, want only io.github.other/format", got.Data.Plugins)
		}
		if len(got.Data.Servers) != 0 {
			t.Errorf("servers = %q, want none (tag include)", serverNames(got))
		}
		if kept := Apply(reg, nil); len(kept.Data.Skills) != 2 || len(kept.Data.Plugins) != 2 {
			t.Error("a nil filter must keep every skill and plugin")
		}
	})
}

// The ToolHive Registry Server's examples/config-filter-test.yaml sources,
// over its example registry.
func TestApplyReferenceFilterExamples(t *testing.T) {
	reg, err := Parse(readSharedRegistry(t))
	if err != nil {
		t.Fatal(err)
	}
	const ns = "io.github.stacklok/"
	tests := []struct {
		source string
		filter *Filter
		want   []string
	}{
		{"database-servers", &Filter{Names: &PatternSet{
			Include: []string{"*/*-mysql-*", "*/genai-*"},
			Exclude: []string{"*/*-mcp-server"},
		}}, []string{ns + "genai-toolbox"}},
		{"security-and-database", &Filter{Tags: &PatternSet{
			Include: []string{"security", "database"},
			Exclude: []string{"mysql"},
		}}, []string{ns + "crowdstrike-falcon"}},
		{"version-control", &Filter{
			Names: &PatternSet{Include: []string{"*/git*"}},
			Tags:  &PatternSet{Exclude: []string{"wiki"}},
		}, []string{ns + "github"}},
		{"dev-tools", &Filter{Names: &PatternSet{
			Include: []string{"*/aws-*", "*/chrome-*", "*/fetch"},
		}}, []string{ns + "aws-api", ns + "chrome-devtools-mcp", ns + "fetch"}},
		{"all-servers", nil, serverNames(reg)},
	}
	for _, tt := range tests {
		t.Run(tt.source, func(t *testing.T) {
			got := serverNames(Apply(reg, tt.filter))
			if !slices.Equal(got, tt.want) {
				t.Errorf("servers = %q, want %q", got, tt.want)
			}
		})
	}
	if n := len(reg.Data.Servers); n != 12 {
		t.Errorf("all-servers keeps %d servers, want 12", n)
	}
}

func TestExtractTags(t *testing.T) {
	tests := []struct {
		name   string
		server *upstreamv0.ServerJSON
		want   []string
	}{
		{"tags present", ptr(testServer("io.test/one", "tag1", "tag2")), []string{"tag1", "tag2"}},
		{"no meta", &upstreamv0.ServerJSON{Name: "io.test/one"}, []string{}},
		{"nil server", nil, []string{}},
		{"nested under any namespace and key", &upstreamv0.ServerJSON{Meta: &upstreamv0.ServerMeta{PublisherProvided: map[string]any{
			"provider": map[string]any{"metadata": map[string]any{"tags": []any{"a", "b"}}},
		}}}, []string{"a", "b"}},
		{"string values skipped", &upstreamv0.ServerJSON{Meta: &upstreamv0.ServerMeta{PublisherProvided: map[string]any{
			"someKey":  "someStringValue",
			"provider": map[string]any{"note": "text", "metadata": map[string]any{"tags": []any{"a"}}},
		}}}, []string{"a"}},
		{"non-string tags skipped", &upstreamv0.ServerJSON{Meta: &upstreamv0.ServerMeta{PublisherProvided: map[string]any{
			"provider": map[string]any{"x": map[string]any{"tags": []any{1.0, "a", nil, true, []any{"b"}}}},
		}}}, []string{"a"}},
		{"tags not a list skipped", &upstreamv0.ServerJSON{Meta: &upstreamv0.ServerMeta{PublisherProvided: map[string]any{
			"provider": map[string]any{"x": map[string]any{"tags": "a"}},
		}}}, []string{}},
		{"union in sorted order with duplicates", &upstreamv0.ServerJSON{Meta: &upstreamv0.ServerMeta{PublisherProvided: map[string]any{
			"z.ns": map[string]any{"k": map[string]any{"tags": []any{"z", "shared"}}},
			"a.ns": map[string]any{"k2": map[string]any{"tags": []string{"b"}}, "k1": map[string]any{"tags": []any{"a", "shared"}}},
		}}}, []string{"a", "shared", "b", "z", "shared"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ExtractTags(tt.server)
			if got == nil || !slices.Equal(got, tt.want) {
				t.Errorf("ExtractTags = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestFilterHash(t *testing.T) {
	// sha256("null")
	const nullHash = "74234e98afe7498fb5daf1f36ac2d78acc339464f950703b8c019892f982b90b"
	a := &Filter{Names: &PatternSet{Include: []string{"io.test/*"}}, Tags: &PatternSet{Exclude: []string{"beta"}}}
	b := &Filter{Names: &PatternSet{Include: []string{"io.test/*"}}, Tags: &PatternSet{Exclude: []string{"beta"}}}
	tests := []struct {
		name  string
		x, y  *Filter
		equal bool
	}{
		{"equal filters hash alike", a, b, true},
		{"different patterns hash apart", a, &Filter{Names: &PatternSet{Include: []string{"io.test/x*"}}}, false},
		{"include and exclude are told apart", &Filter{Tags: &PatternSet{Include: []string{"beta"}}}, &Filter{Tags: &PatternSet{Exclude: []string{"beta"}}}, false},
		{"pattern order matters", &Filter{Tags: &PatternSet{Include: []string{"a", "b"}}}, &Filter{Tags: &PatternSet{Include: []string{"b", "a"}}}, false},
		{"nil and empty filter differ", nil, &Filter{}, false},
		{"nil and empty pattern set differ", &Filter{}, &Filter{Names: &PatternSet{}}, false},
		{"empty and nil lists hash alike", &Filter{Names: &PatternSet{Include: []string{}}}, &Filter{Names: &PatternSet{}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hx, hy := FilterHash(tt.x), FilterHash(tt.y)
			if (hx == hy) != tt.equal {
				t.Errorf("FilterHash %s vs %s: equal=%v, want %v", hx, hy, hx == hy, tt.equal)
			}
			if len(hx) != 64 || strings.ToLower(hx) != hx {
				t.Errorf("hash %q is not lowercase hex sha256", hx)
			}
		})
	}
	t.Run("nil filter hashes null", func(t *testing.T) {
		if got := FilterHash(nil); got != nullHash {
			t.Errorf("FilterHash(nil) = %s, want %s", got, nullHash)
		}
	})
}

func TestFilterValidate(t *testing.T) {
	tests := []struct {
		name   string
		filter *Filter
		want   []string // substrings, one per expected error, in order
	}{
		{"nil filter", nil, nil},
		{"no names", &Filter{Tags: &PatternSet{Include: []string{"[not-a-glob"}}}, nil},
		{"valid globs", &Filter{Names: &PatternSet{
			Include: []string{"io.github.stacklok/*", "db?", "db[0-9]", "{a,b}", `a\*`, ""},
			Exclude: []string{"*/deprecated"},
		}}, nil},
		{"unclosed class in include", &Filter{Names: &PatternSet{Include: []string{"ok/*", "["}}},
			[]string{`names.include[1]: invalid glob pattern "[": ` + filepath.ErrBadPattern.Error()}},
		{"errors in both lists", &Filter{Names: &PatternSet{Include: []string{"a[b"}, Exclude: []string{"x", "[z-a]"}}},
			[]string{`names.include[0]: invalid glob pattern "a[b"`, `names.exclude[1]: invalid glob pattern "[z-a]": hi character 'a' should be greater than lo 'z'`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := tt.filter.Validate()
			if len(errs) != len(tt.want) {
				t.Fatalf("Validate = %v, want %d errors", errs, len(tt.want))
			}
			for i, err := range errs {
				if !strings.Contains(err.Error(), tt.want[i]) {
					t.Errorf("error %d = %q, want it to contain %q", i, err, tt.want[i])
				}
			}
		})
	}
	t.Run("bad pattern error unwraps", func(t *testing.T) {
		errs := (&Filter{Names: &PatternSet{Exclude: []string{"["}}}).Validate()
		if len(errs) != 1 || !errors.Is(errs[0], filepath.ErrBadPattern) {
			t.Errorf("Validate = %v, want one error wrapping filepath.ErrBadPattern", errs)
		}
	})
}
