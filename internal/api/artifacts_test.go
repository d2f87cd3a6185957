package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func artifactContent() Content {
	var c Content
	for _, k := range []*[]ArtifactRecord{&c.Skills, &c.Plugins} {
		*k = []ArtifactRecord{
			artifactRecord("io.github.acme", "review", "1.0.0", false),
			artifactRecord("io.github.acme", "review", "1.2.0", true, `"title":"Code Review"`),
			artifactRecord("io.github.acme", "lint", "0.1.0", true, `"status":"deprecated"`),
			artifactRecord("com.example", "docs", "2.0.0", true, `"status":"archived"`, `"icons":[{"src":"https://example.com/i.png"}]`),
		}
	}
	return c
}

// artifactList decodes a skills or plugins list into "ns/name version".
func artifactList(t *testing.T, field string, body []byte) ([]string, string) {
	t.Helper()
	var l map[string]json.RawMessage
	if err := json.Unmarshal(body, &l); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	var items []identity
	if err := json.Unmarshal(l[field], &items); err != nil {
		t.Fatalf("%s: %v: %s", field, err, body)
	}
	var meta struct {
		Count      int    `json:"count"`
		NextCursor string `json:"nextCursor"`
	}
	if err := json.Unmarshal(l["metadata"], &meta); err != nil || meta.Count != len(items) {
		t.Fatalf("metadata %s for %d items", l["metadata"], len(items))
	}
	out := []string{}
	for _, it := range items {
		out = append(out, it.Namespace+"/"+it.Name+" "+it.Version)
	}
	return out, meta.NextCursor
}

// TestArtifactRoutes runs the reference's dev.toolhive routes for skills
// and for plugins: one suite, both kinds.
func TestArtifactRoutes(t *testing.T) {
	_, base := serveRegistry(t, artifactContent())
	for _, kind := range []string{"skills", "plugins"} {
		prefix := base + "/v0.1/x/dev.toolhive/" + kind
		t.Run(kind, func(t *testing.T) {
			lists := []struct {
				name, query string
				want        []string
			}{
				{"every version by namespace/name then version", "", []string{"com.example/docs 2.0.0", "io.github.acme/lint 0.1.0", "io.github.acme/review 1.0.0", "io.github.acme/review 1.2.0"}},
				{"search over the title, case-insensitive", "?search=code%20REVIEW", []string{"io.github.acme/review 1.2.0"}},
				{"status filter", "?status=deprecated,archived", []string{"com.example/docs 2.0.0", "io.github.acme/lint 0.1.0"}},
				{"no status means active", "?status=active", []string{"io.github.acme/review 1.0.0", "io.github.acme/review 1.2.0"}},
			}
			for _, tc := range lists {
				resp, body := fetch(t, prefix+tc.query)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("%s: %s %s", tc.name, resp.Status, body)
				}
				if got, _ := artifactList(t, kind, body); !slices.Equal(got, tc.want) {
					t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
				}
			}

			var all []string
			for q := "?limit=3"; ; {
				_, body := fetch(t, prefix+q)
				got, next := artifactList(t, kind, body)
				all = append(all, got...)
				if next == "" {
					break
				}
				q = "?limit=3&cursor=" + next
			}
			if len(all) != 4 {
				t.Errorf("pages gave %q", all)
			}

			for _, e := range []struct{ query, has string }{
				{"?limit=0", "invalid limit 0"}, {"?limit=101", "between 1 and 100"}, {"?limit=x", `invalid limit "x"`},
				{"?cursor=%21", "invalid cursor"}, {"?status=gone", `invalid status "gone"`},
			} {
				wantError(t, prefix+e.query, http.StatusBadRequest, e.has)
			}

			for path, want := range map[string]string{
				"/io.github.acme/review":                 `"version":"1.2.0"`,
				"/io.github.acme/review/versions/1.0.0":  `"version":"1.0.0"`,
				"/io.github.acme/review/versions/latest": `"version":"1.2.0"`,
				"/com.example/docs":                      `"icons":[{"src":"https://example.com/i.png"}]`,
			} {
				resp, body := fetch(t, prefix+path)
				if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
					t.Errorf("%s: %s %s", path, resp.Status, body)
				}
			}
			_, body := fetch(t, prefix+"/io.github.acme/review/versions")
			if got, _ := artifactList(t, kind, body); !slices.Equal(got, []string{"io.github.acme/review 1.0.0", "io.github.acme/review 1.2.0"}) {
				t.Errorf("versions: %q", got)
			}
			singular := strings.TrimSuffix(kind, "s")
			wantError(t, prefix+"/io.github.acme/none", http.StatusNotFound, singular+` "io.github.acme/none" not found`)
			wantError(t, prefix+"/io.github.acme/none/versions", http.StatusNotFound, "not found")
			wantError(t, prefix+"/io.github.acme/review/versions/9.9.9", http.StatusNotFound, `has no version "9.9.9"`)
		})
	}
}
