package api

import (
	"net/url"
	"strings"
)

// query is a request's raw query string, read one parameter at a time.
// Get answers as url.Values.Get of r.URL.Query() does, without building
// the map and a slice for each parameter on every request: a route reads
// at most six parameters, and a scan of a query of at most maxQueryLen
// bytes for each is cheaper than the allocations.
type query string

// queryOf is the query of r.
func queryOf(rawQuery string) query { return query(rawQuery) }

// Get returns the first value of the parameter name, unescaped, or ""; a
// pair that url.ParseQuery refuses (a semicolon, a bad escape) is skipped
// as r.URL.Query() skips it.
func (q query) Get(name string) string {
	rest := string(q)
	for rest != "" {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		if pair == "" || strings.Contains(pair, ";") {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		k, err := url.QueryUnescape(k)
		if err != nil || k != name {
			continue
		}
		if v, err = url.QueryUnescape(v); err != nil {
			continue
		}
		return v
	}
	return ""
}
