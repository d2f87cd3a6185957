package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzServerQuery sends any query string to the listing: the answer is a
// list or a JSON error naming the problem, never a panic or a 5xx.
func FuzzServerQuery(f *testing.F) {
	for _, q := range []string{
		"", "limit=0", "limit=abc", "cursor=%25", "cursor=" + encodeCursor(position{"io.github.load/server-00001", "1.0.0"}),
		"updated_since=2025-06-01T12:00:00Z&version=latest", "search=SERVER&include_deleted=true", "updated_since=x",
	} {
		f.Add(q)
	}
	h := NewHandler([]string{"default"}, nil)
	if err := h.Swap("default", mustBuild(f, manyServers(20))); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, q string) {
		if _, err := url.ParseRequestURI("/?" + q); err != nil || strings.ContainsAny(q, " #") {
			return // not a query a request can carry
		}
		for _, route := range []string{"/v0.1/servers", "/v0.1/x/dev.toolhive/skills"} {
			rec := httptestGet(h, "/registry/default"+route+"?"+q)
			switch rec.Code {
			case http.StatusOK:
				var l map[string]json.RawMessage
				if err := json.Unmarshal(rec.Body.Bytes(), &l); err != nil || l["metadata"] == nil {
					t.Fatalf("?%s: 200 with %s", q, rec.Body)
				}
			case http.StatusBadRequest:
				var e struct{ Error string }
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
					t.Fatalf("?%s: 400 with %s", q, rec.Body)
				}
			default:
				t.Fatalf("?%s: %d %s", q, rec.Code, rec.Body)
			}
		}
	})
}
