package registry

import (
	"strings"
	"testing"
)

func TestSnapshotListsNamesWhatIsWrong(t *testing.T) {
	for _, c := range []struct{ doc, want string }{
		{`{"data":`, "not valid JSON"},
		{`[]`, "not a JSON object"},
		{`{"data":[]}`, "data is not an object"},
		{`{"data":{"servers":{}}}`, "data.servers is not an array"},
	} {
		if _, err := SnapshotLists([]byte(c.doc)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.doc, err, c.want)
		}
	}
	l, err := SnapshotLists([]byte(`{"meta":{},"data":{"servers":[{"a":1}, {"b":"]"}],"skills":null,"plugins":[]}}`))
	if err != nil || len(l.Servers) != 2 || string(l.Servers[1]) != `{"b":"]"}` || l.Skills != nil || len(l.Plugins) != 0 {
		t.Errorf("%q %v", l, err)
	}
}
