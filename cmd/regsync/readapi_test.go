package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/regsync/regsync/internal/testsupport"
)

// apiAnswer is one answer of the read API.
type apiAnswer struct {
	code int
	etag string
	body []byte
}

// apiGet sends a GET with the given header pairs and reads the answer.
func apiGet(t *testing.T, url string, headers ...string) apiAnswer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return apiAnswer{code: resp.StatusCode, etag: resp.Header.Get("ETag"), body: body}
}

// serverList is the part of a ServerList the tests read.
type serverList struct {
	Servers []struct {
		Server struct {
			Name, Version, Description string
		} `json:"server"`
		Meta map[string]struct {
			Status   string `json:"status"`
			IsLatest bool   `json:"isLatest"`
		} `json:"_meta"`
	} `json:"servers"`
	Metadata struct {
		Count int `json:"count"`
	} `json:"metadata"`
}

// listServers fetches a registry's listing, which must be a 200 with an
// ETag and a ServerList, and returns it.
func listServers(t *testing.T, base string) (serverList, apiAnswer) {
	t.Helper()
	a := apiGet(t, base+"/v0.1/servers")
	var l serverList
	if a.code != http.StatusOK || a.etag == "" {
		t.Fatalf("GET %s/v0.1/servers: %d ETag %q %s", base, a.code, a.etag, a.body)
	}
	if err := json.Unmarshal(a.body, &l); err != nil {
		t.Fatalf("GET %s/v0.1/servers: not a ServerList: %v\n%s", base, err, a.body)
	}
	if l.Metadata.Count != len(l.Servers) {
		t.Errorf("metadata.count %d for %d servers", l.Metadata.Count, len(l.Servers))
	}
	return l, a
}

// names returns the server names of a listing, as listed.
func (l serverList) names() []string {
	var out []string
	for _, s := range l.Servers {
		out = append(out, s.Server.Name)
	}
	return out
}

// serveQuickStart runs serve on a copy of examples/quickstart.yaml whose
// registry file, data and listeners are the test's own, with extra
// appended to the configuration, and returns the service and the path of
// the registry file.
func serveQuickStart(t *testing.T, extra string) (*service, string) {
	t.Helper()
	dir := t.TempDir()
	quick, err := os.ReadFile("../../examples/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	reg, err := os.ReadFile("../../examples/quickstart-registry.json")
	if err != nil {
		t.Fatal(err)
	}
	regPath := filepath.Join(dir, "quickstart-registry.json")
	if err := os.WriteFile(regPath, reg, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(quick), "path: examples/quickstart-registry.json", "path: "+regPath, 1)
	if cfg == string(quick) {
		t.Fatal("examples/quickstart.yaml no longer names examples/quickstart-registry.json")
	}
	dataDir := filepath.Join(dir, "data")
	cfg += fmt.Sprintf("dataDir: %s\nnats:\n  embedded: {listen: %q}\nhttp: {addr: %q}\n%s", dataDir, anyPort, anyPort, extra)
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return serveConfig(t, cfgPath, dataDir, "quickstart"), regPath
}

func TestReadAPIServesTheQuickStartRegistry(t *testing.T) {
	svc, regPath := serveQuickStart(t, "")
	base := "http://" + svc.httpAddr + "/registry/quickstart"
	wantNames := []string{"io.github.example/issue-tracker", "io.github.example/notes", "io.github.example/postgres-reader", "io.github.example/weather"}
	// The view follows the startup sync's commit, not its status record:
	// a view loaded before the commit arrived serves the registry empty.
	testsupport.Eventually(t, "the quick-start registry served with its servers", func() bool {
		a := apiGet(t, base+"/v0.1/servers")
		var l serverList
		return a.code == http.StatusOK && json.Unmarshal(a.body, &l) == nil && len(l.Servers) > 0
	})
	list, first := listServers(t, base)
	if !slices.Equal(list.names(), wantNames) {
		t.Fatalf("servers %v, want %v (the deprecated one filtered out)", list.names(), wantNames)
	}
	for _, s := range list.Servers {
		official := s.Meta["io.modelcontextprotocol.registry/official"]
		if official.Status != "active" || !official.IsLatest {
			t.Errorf("%s: official _meta %+v, want active and latest", s.Server.Name, official)
		}
	}

	t.Run("If-None-Match answers 304", func(t *testing.T) {
		if a := apiGet(t, base+"/v0.1/servers", "If-None-Match", first.etag); a.code != http.StatusNotModified || len(a.body) != 0 {
			t.Errorf("GET with the ETag: %d %s", a.code, a.body)
		}
	})

	t.Run("an edit of the file changes the listing and its ETag", func(t *testing.T) {
		raw, err := os.ReadFile(regPath)
		if err != nil {
			t.Fatal(err)
		}
		const was = "Current conditions and forecasts for any city, from public weather services"
		edited := strings.Replace(string(raw), was, "Forecasts, edited", 1)
		if edited == string(raw) {
			t.Fatal("the quick-start registry no longer describes the weather server as expected")
		}
		writeAtomically(t, regPath, edited)
		testsupport.Eventually(t, "the edit served", func() bool {
			a := apiGet(t, base+"/v0.1/servers", "If-None-Match", first.etag)
			return a.code == http.StatusOK && strings.Contains(string(a.body), "Forecasts, edited")
		})
		list, now := listServers(t, base)
		if now.etag == first.etag || !slices.Equal(list.names(), wantNames) {
			t.Errorf("after the edit: ETag %s (was %s), servers %v", now.etag, first.etag, list.names())
		}
	})

	t.Run("requests are counted by route and code", func(t *testing.T) {
		a := apiGet(t, "http://"+svc.httpAddr+"/metrics")
		if !regexp.MustCompile(`regsync_api_requests_total\{code="304",route="/v0.1/servers"\} [1-9]`).Match(a.body) {
			t.Errorf("no 304 counted for /v0.1/servers:\n%s", grepLines(string(a.body), "regsync_api_requests_total"))
		}
	})

	t.Run("readyz is ready once the views are loaded", func(t *testing.T) {
		testsupport.Eventually(t, "ready", func() bool {
			return apiGet(t, "http://"+svc.httpAddr+"/readyz").code == http.StatusOK
		})
	})
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for line := range strings.Lines(s) {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "")
}

func TestReadAPIOnItsOwnListener(t *testing.T) {
	svc, _ := serveQuickStart(t, fmt.Sprintf("api: {addr: %q}\n", anyPort))
	apiAddr := listening(t, svc.log, "api listening", "addr")
	base := "http://" + apiAddr + "/registry/quickstart"
	testsupport.Eventually(t, "the quick-start registry served on api.addr", func() bool {
		return apiGet(t, base+"/v0.1/servers").code == http.StatusOK
	})
	if a := apiGet(t, "http://"+svc.httpAddr+"/registry/quickstart/v0.1/servers"); a.code != http.StatusNotFound {
		t.Errorf("http.addr answers the API too: %d %s", a.code, a.body)
	}
}

// registryJSON is a registry file of the given servers, each "name@version
// description".
func registryJSON(servers ...string) string {
	var items []string
	for _, s := range servers {
		nameVersion, desc, _ := strings.Cut(s, " ")
		name, version, _ := strings.Cut(nameVersion, "@")
		items = append(items, fmt.Sprintf(`{"name":%q,"description":%q,"version":%q}`, name, desc, version))
	}
	return `{"version":"1.0.0","meta":{"last_updated":"2026-01-01T00:00:00Z"},"data":{"servers":[` + strings.Join(items, ",") + `]}}`
}

func TestReadAPIServesMergedRegistries(t *testing.T) {
	dir := t.TempDir()
	first, second := filepath.Join(dir, "first.json"), filepath.Join(dir, "second.json")
	if err := os.WriteFile(first, []byte(registryJSON("io.example/shared@1.0.0 from-first", "io.example/only-first@1.0.0 only")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(second, []byte(registryJSON("io.example/shared@2.0.0 from-second", "io.example/only-second@1.0.0 only")), 0o644); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(dir, "data")
	cfgPath := filepath.Join(dir, "config.yaml")
	cfg := fmt.Sprintf(`
dataDir: %s
nats:
  embedded: {listen: %q}
http: {addr: %q}
sources:
  - name: first
    file: {path: %s}
    syncPolicy: {interval: 30m}
  - name: second
    file: {path: %s}
    syncPolicy: {interval: 30m}
registries:
  - name: merged
    sources: [first, second]
  - name: claimed
    sources: [second]
    claims: {team: platform}
`, dataDir, anyPort, anyPort, first, second)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	svc := serveConfig(t, cfgPath, dataDir, "first")
	testsupport.Eventually(t, "the sync of second", func() bool {
		out, _, err := cli(t, "status", "second", "-o", "json", "--config", cfgPath)
		return err == nil && strings.Contains(out, `"phase": "Complete"`)
	})
	base := "http://" + svc.httpAddr + "/registry/"
	descriptions := func(l serverList) []string {
		var out []string
		for _, s := range l.Servers {
			out = append(out, s.Server.Name+"@"+s.Server.Version+" "+s.Server.Description)
		}
		return out
	}

	t.Run("the first source in the registry's order wins a name", func(t *testing.T) {
		want := []string{"io.example/only-first@1.0.0 only", "io.example/only-second@1.0.0 only", "io.example/shared@1.0.0 from-first"}
		var got []string
		testsupport.Eventually(t, "the merged view of both sources", func() bool {
			if apiGet(t, base+"merged/v0.1/servers").code != http.StatusOK {
				return false
			}
			l, _ := listServers(t, base+"merged")
			got = descriptions(l)
			return slices.Equal(got, want)
		})
	})

	t.Run("a registry with claims is not served", func(t *testing.T) {
		a := apiGet(t, base+"claimed/v0.1/servers")
		if a.code != http.StatusNotFound || !strings.Contains(string(a.body), "api.serveClaimedRegistries") {
			t.Errorf("GET of the claimed registry: %d %s", a.code, a.body)
		}
		if !svc.log.Contains("registry has claims and is not served over HTTP") || !svc.log.Contains("registry=claimed") {
			t.Errorf("no warning naming the claimed registry at start")
		}
	})

	t.Run("a reload that reorders, adds and removes registries applies at once", func(t *testing.T) {
		next := strings.Replace(cfg, "sources: [first, second]", "sources: [second, first]", 1)
		next = strings.Replace(next, "  - name: claimed\n    sources: [second]\n    claims: {team: platform}\n", "  - name: only-first\n    sources: [first]\n", 1)
		if err := os.WriteFile(cfgPath, []byte(next), 0o644); err != nil {
			t.Fatal(err)
		}
		want := []string{"io.example/only-first@1.0.0 only", "io.example/only-second@1.0.0 only", "io.example/shared@2.0.0 from-second"}
		testsupport.Eventually(t, "the reordered registry served", func() bool {
			l, _ := listServers(t, base+"merged")
			return slices.Equal(descriptions(l), want)
		})
		l, _ := listServers(t, base+"only-first")
		if got := descriptions(l); !slices.Equal(got, []string{"io.example/only-first@1.0.0 only", "io.example/shared@1.0.0 from-first"}) {
			t.Errorf("the added registry serves %v", got)
		}
		if a := apiGet(t, base+"claimed/v0.1/servers"); a.code != http.StatusNotFound || !strings.Contains(string(a.body), `registry \"claimed\" not found`) {
			t.Errorf("GET of the removed registry: %d %s", a.code, a.body)
		}
	})
}
