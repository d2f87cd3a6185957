package sources

import (
	"net/http"
	"testing"
	"time"
)

func FuzzParseRetryAfter(f *testing.F) {
	now := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	for _, s := range []string{"", "0", "7", "-3", "99999999999999", now.Add(time.Minute).Format(http.TimeFormat), "soon"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if d := parseRetryAfter(v, now); d < 0 || d > time.Hour {
			t.Fatalf("parseRetryAfter(%q) = %s", v, d)
		}
	})
}

func FuzzCheckOpenAPI(f *testing.F) {
	f.Add([]byte(probeYAML))
	f.Add([]byte("info: {version: 1.0}"))
	f.Add([]byte("info: [a"))
	f.Add([]byte("- 1\n- 2"))
	f.Fuzz(func(t *testing.T, body []byte) {
		_ = checkOpenAPI(body) // must not panic
	})
}
