package registry

import (
	"strings"
	"testing"
)

func TestTombstoneKeepsIdentityAndShortTexts(t *testing.T) {
	long := strings.Repeat("é", 150)
	for _, tc := range []struct {
		name, in, want string
	}{
		{"server", `{"name":"io.example/a","version":"1.0.0","description":"d","packages":[{"x":1}],"remotes":[]}`,
			`{"name":"io.example/a","description":"d","version":"1.0.0"}`},
		{"skill keeps its namespace", `{"namespace":"io.example","name":"s","version":"2","title":"T","files":["a"]}`,
			`{"namespace":"io.example","name":"s","title":"T","version":"2"}`},
		{"texts cut to 100 characters", `{"name":"n/a","version":"1","title":"` + long + `","description":"` + long + `"}`,
			`{"name":"n/a","title":"` + long[:200] + `","description":"` + long[:200] + `","version":"1"}`},
		{"fields that are not strings are left out", `{"name":"n/a","version":"1","description":{"x":1},"$schema":3}`,
			`{"name":"n/a","version":"1"}`},
		{"html is not escaped", `{"name":"n/a","version":"1","description":"a & <b>"}`,
			`{"name":"n/a","description":"a & <b>","version":"1"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Tombstone([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	if _, err := Tombstone([]byte(`[1]`)); err == nil || !strings.Contains(err.Error(), "tombstone of an entry") {
		t.Errorf("not an object: %v", err)
	}
}
