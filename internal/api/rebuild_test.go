package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A view rebuilt from the previous one serves exactly what a view built
// anew serves, and prepares only the records that changed.
func TestRebuildServesWhatBuildServes(t *testing.T) {
	before := Content{Servers: []ServerRecord{
		server("io.x/a", "1.0.0", false), server("io.x/a", "2.0.0", true), server("io.x/b", "1.0.0", true),
	}}
	prev := mustBuild(t, before)
	after := Content{Servers: []ServerRecord{
		deleted(server("io.x/a", "1.0.0", false), t0.Add(time.Hour)),              // removed
		server("io.x/a", "2.0.0", true),                                           // unchanged
		at(server("io.x/b", "1.0.0", true, `"title":"B"`), t0, t0.Add(time.Hour)), // edited
		server("io.x/c", "1.0.0", true),                                           // added
	}}
	rebuilt, err := Rebuild(prev, after)
	if err != nil {
		t.Fatal(err)
	}
	built := mustBuild(t, after)
	if rebuilt.Digest() != built.Digest() {
		t.Errorf("digest %s, built anew %s", rebuilt.Digest(), built.Digest())
	}
	for _, path := range []string{"/registry/r/v0.1/servers", "/registry/r/v0.1/servers?include_deleted=true",
		"/registry/r/v0.1/servers/io.x%2Fa/versions", "/registry/r/v0.1/servers/io.x%2Fb/versions/latest"} {
		var bodies [2]string
		for i, v := range []*View{rebuilt, built} {
			h := NewHandler([]string{"r"}, nil)
			if err := h.Swap("r", v); err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
			bodies[i] = rec.Body.String()
		}
		if bodies[0] != bodies[1] {
			t.Errorf("%s:\nrebuilt %s\nbuilt   %s", path, bodies[0], bodies[1])
		}
	}
	if rebuilt.versions["io.x/a"][0] != prev.versions["io.x/a"][0] {
		t.Error("the unchanged record was prepared again")
	}
	for _, name := range []string{"io.x/b"} {
		if rebuilt.versions[name][0] == prev.versions[name][0] {
			t.Errorf("%s: the edited record was not prepared again", name)
		}
	}
	if got := rebuilt.versions["io.x/a"][1]; !got.deleted {
		t.Error("the removed version is not a tombstone")
	}
}

// BenchmarkRebuild10kOneChange prepares a view of 10,000 servers from the
// previous one after one record changed.
func BenchmarkRebuild10kOneChange(b *testing.B) {
	c := manyServers(10000)
	prev := mustBuild(b, c)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c.Servers[0].UpdatedAt = t0.Add(time.Duration(i+1) * time.Second)
		v, err := Rebuild(prev, c)
		if err != nil {
			b.Fatal(err)
		}
		prev = v
	}
}

// A patch whose records name a server, skill or plugin it does not list
// is refused, naming the record: the view would otherwise hold two
// versions of what it lists once.
func TestPatchRefusesARecordOfANameItDoesNotList(t *testing.T) {
	prev := mustBuild(t, Content{Servers: []ServerRecord{server("io.x/a", "1.0.0", true)}})
	_, err := Patch(prev, Names{Servers: []string{"io.x/b"}}, Content{Servers: []ServerRecord{server("io.x/a", "2.0.0", true)}})
	if err == nil || !strings.Contains(err.Error(), "server io.x/a 2.0.0: its name is not one the patch lists") {
		t.Errorf("err = %v, want the unlisted server named", err)
	}
}

// BenchmarkPatch10kOneChange patches the one name whose record changed
// into a view of 10,000 servers, as the views follower does after a
// one-entry edit.
func BenchmarkPatch10kOneChange(b *testing.B) {
	c := manyServers(10000)
	prev := mustBuild(b, c)
	name := c.Servers[0].Name
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c.Servers[0].UpdatedAt = t0.Add(time.Duration(i+1) * time.Second)
		v, err := Patch(prev, Names{Servers: []string{name}}, Content{Servers: c.Servers[:2]})
		if err != nil {
			b.Fatal(err)
		}
		prev = v
	}
}
