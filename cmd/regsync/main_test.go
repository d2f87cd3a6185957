package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regsync/regsync/events"
	"github.com/regsync/regsync/internal/testsupport"
)

const testRegistry = `{"version":"1.0.0","meta":{"last_updated":"2026-01-01T00:00:00Z"},"data":{"servers":[
 {"name":"io.example/alpha","description":"Alpha","version":"1.0.0"},
 {"name":"io.example/beta","description":"Beta","version":"1.0.0"}]}}`

// anyPort is the listen address of every test service: the system picks
// a free port, which serve reports in its log (see listening). Reserving a
// port by listening and closing it leaves it open to anyone in between.
const anyPort = "127.0.0.1:0"

// listening waits until the serve log has the line msg and returns the
// address it reports under key: "http listening" addr, or "embedded
// nats-server started" client_url (a nats:// URL).
func listening(t testing.TB, log interface{ String() string }, msg, key string) string {
	t.Helper()
	line := regexp.MustCompile(`msg="?` + regexp.QuoteMeta(msg) + `"? .*\b` + key + `=(\S+)`)
	var addr string
	testsupport.Eventually(t, "serve reports "+msg, func() bool {
		m := line.FindStringSubmatch(log.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	return addr
}

// natsAddr waits for the embedded server's listener in the serve log and
// returns its host:port.
func natsAddr(t testing.TB, log interface{ String() string }) string {
	t.Helper()
	u := listening(t, log, "embedded nats-server started", "client_url")
	_, addr, ok := strings.Cut(u, "://") // nats://, or tls:// with TLS
	if !ok {
		t.Fatalf("client_url %q", u)
	}
	return addr
}

// servedNATS maps the configuration file of each running test service to
// its embedded server's address: a client command given that file (whose
// listen address is port 0) is given the address too, as --nats-url.
var servedNATS sync.Map

// cli runs one regsync command and returns its output. A client command
// for a running test service reaches it at the address the service
// reported (see servedNATS).
func cli(t testing.TB, args ...string) (string, string, error) {
	t.Helper()
	args = withServedNATS(args)
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := run(ctx, args, &out, &errOut)
	return out.String(), errOut.String(), err
}

// withServedNATS adds --nats-url to the arguments of a client command
// whose --config is that of a running test service, unless they name one.
func withServedNATS(args []string) []string {
	if len(args) == 0 || !slices.Contains([]string{"sync", "status", "watch"}, args[0]) || slices.Contains(args, "--nats-url") {
		return args
	}
	i := slices.Index(args, "--config")
	if i < 0 || i+1 == len(args) {
		return args
	}
	if addr, ok := servedNATS.Load(args[i+1]); ok {
		return append(slices.Clip(args), "--nats-url", "nats://"+addr.(string))
	}
	return args
}

// service is a running `regsync serve` on a temporary configuration.
type service struct {
	natsURL, httpAddr, regPath, cfgPath string
	log                                 *testsupport.Buffer
}

// startServe runs `regsync serve` until the test ends, and waits until
// the startup trigger has synced the source "local".
func startServe(t testing.TB) *service {
	t.Helper()
	regPath := filepath.Join(t.TempDir(), "registry.json")
	if err := os.WriteFile(regPath, []byte(testRegistry), 0o644); err != nil {
		t.Fatal(err)
	}
	return serveFile(t, regPath)
}

// serveFile runs `regsync serve` with one source "local" on the file at
// regPath, which must hold a valid registry.
func serveFile(t testing.TB, regPath string) *service {
	t.Helper()
	s := serveSources(t, "local", fmt.Sprintf(`
  - name: local
    file: {path: %s}
    syncPolicy: {interval: 30m}
    filter:
      names: {exclude: ["*/beta"]}
`, regPath))
	s.regPath = regPath
	return s
}

// serveSources runs `regsync serve` with the given sources: section (and
// a registries: section of the source named wait), and waits until the
// source named wait has completed a sync.
func serveSources(t testing.TB, wait, sourcesYAML string) *service {
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	cfg := fmt.Sprintf(`
dataDir: %s
nats:
  embedded: {listen: "%s"}
http: {addr: "%s"}
sources:
%s
registries:
  - name: default
    sources: [%s]
`, filepath.Join(dir, "data"), anyPort, anyPort, strings.TrimPrefix(sourcesYAML, "\n"), wait)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := cli(t, "validate", "--config", cfgPath, "--fetch")
	if err != nil {
		t.Fatalf("validate: %v\n%s%s", err, out, errOut)
	}
	if !strings.Contains(out, wait+": ok, ") || !strings.Contains(out, "registry default: "+wait+"\n") {
		t.Errorf("validate output %q, stderr %q", out, errOut)
	}
	return serveConfig(t, cfgPath, filepath.Join(dir, "data"), wait)
}

// serveConfig runs `regsync serve` on the configuration at cfgPath, whose
// dataDir is dataDir and whose listeners are on port 0, until the test
// ends, and waits until the source named wait has completed a sync.
func serveConfig(t testing.TB, cfgPath, dataDir, wait string) *service {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	var serveErr testsupport.Buffer
	go func() {
		served <- run(ctx, []string{"serve", "--config", cfgPath, "--log-level", "debug"}, &bytes.Buffer{}, &serveErr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(testsupport.Patience):
			t.Error("serve did not stop")
		}
		if t.Failed() {
			t.Logf("serve log:\n%s", serveErr.String())
		}
	})
	addr := natsAddr(t, &serveErr)
	servedNATS.Store(cfgPath, addr)
	t.Cleanup(func() { servedNATS.Delete(cfgPath) })
	s := &service{httpAddr: listening(t, &serveErr, "http listening", "addr"), cfgPath: cfgPath, log: &serveErr}

	// The startup trigger syncs the source without anyone asking. The
	// client takes the address and the generated password from the
	// configuration. The record is Complete before its result is
	// published; the result is out once pendingResult is cleared, so a
	// test that follows results from here never sees the startup one.
	testsupport.Eventually(t, "the startup sync of "+wait+" and its result", func() bool {
		out, _, err := cli(t, "status", wait, "-o", "json", "--config", cfgPath)
		return err == nil && strings.Contains(out, `"phase": "Complete"`) && !strings.Contains(out, `"pendingResult"`)
	})
	// For tests that connect on their own: the URL with the embedded
	// server's credentials.
	password, err := os.ReadFile(filepath.Join(dataDir, "nats-password"))
	if err != nil {
		t.Fatal(err)
	}
	s.natsURL = "nats://regsync:" + strings.TrimSpace(string(password)) + "@" + addr
	return s
}

func TestServeSyncStatus(t *testing.T) {
	svc := startServe(t)
	cfgPath, regPath, httpAddr := svc.cfgPath, svc.regPath, svc.httpAddr

	t.Run("sync --wait prints the answering result", func(t *testing.T) {
		out, errOut, err := cli(t, "sync", "local", "--wait", "--config", cfgPath)
		if err != nil {
			t.Fatalf("sync: %v\n%s", err, errOut)
		}
		var ev struct {
			Type string
			Data struct {
				Source, Reason string
				TriggerIDs     []string `json:"triggerIds"`
			}
		}
		if err := json.Unmarshal([]byte(out), &ev); err != nil {
			t.Fatalf("output is not one JSON event: %v\n%s", err, out)
		}
		if ev.Type != "io.regsync.sync.skipped.v1" || ev.Data.Reason != "manual-sync-no-data-changes" || len(ev.Data.TriggerIDs) != 1 {
			t.Errorf("result %+v", ev)
		}
	})

	t.Run("retrying an answered request prints its answer", func(t *testing.T) {
		var answers []map[string]any
		for range 2 {
			out, errOut, err := cli(t, "sync", "local", "--request-id", "retry-1", "--wait", "--timeout", "5s", "--config", cfgPath)
			if err != nil {
				t.Fatalf("sync: %v\n%s", err, errOut)
			}
			var ev map[string]any
			if err := json.Unmarshal([]byte(out), &ev); err != nil {
				t.Fatalf("output is not one JSON event: %v\n%s", err, out)
			}
			answers = append(answers, ev)
		}
		if answers[0]["id"] != answers[1]["id"] || answers[0]["source"] != answers[1]["source"] {
			t.Errorf("the retry printed %v %v, want the first answer %v %v", answers[1]["source"], answers[1]["id"], answers[0]["source"], answers[0]["id"])
		}
		data, _ := answers[1]["data"].(map[string]any)
		if ids, _ := data["requestIds"].([]any); len(ids) != 1 || ids[0] != "retry-1" {
			t.Errorf("requestIds %v, want [retry-1]", data["requestIds"])
		}
	})

	t.Run("sync --all --wait answers every source", func(t *testing.T) {
		out, errOut, err := cli(t, "sync", "--all", "--wait", "--config", cfgPath)
		if err != nil {
			t.Fatalf("sync: %v\n%s", err, errOut)
		}
		if !strings.Contains(out, `"subject": "local"`) || !strings.Contains(errOut, "requested sync of local") {
			t.Errorf("result %s\n%s", out, errOut)
		}
	})

	t.Run("sync --wait exits non-zero when the sync fails", func(t *testing.T) {
		saved, err := os.ReadFile(regPath)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(regPath); err != nil {
			t.Fatal(err)
		}
		defer os.WriteFile(regPath, saved, 0o644)
		out, _, err := cli(t, "sync", "local", "--wait", "--config", cfgPath)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(out, "io.regsync.sync.failed.v1") || !strings.Contains(out, "file not found") {
			t.Errorf("err %v, out %s", err, out)
		}
	})

	t.Run("sync --wait fails for an unknown source", func(t *testing.T) {
		out, _, err := cli(t, "sync", "nosuch", "--wait", "--config", cfgPath)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(out, "unknown source") {
			t.Errorf("err %v, out %s", err, out)
		}
	})

	t.Run("status table", func(t *testing.T) {
		out, _, err := cli(t, "status", "--config", cfgPath)
		if err != nil || !strings.Contains(out, "SOURCE") || !strings.Contains(out, "local ") {
			t.Errorf("status %v:\n%s", err, out)
		}
	})

	t.Run("health endpoints", func(t *testing.T) {
		for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
			resp, err := httpGet("http://" + httpAddr + path)
			if err != nil || resp != 200 {
				t.Errorf("GET %s: %d %v", path, resp, err)
			}
		}
	})
}

func TestUsageErrors(t *testing.T) {
	cases := [][]string{
		{},
		{"nope"},
		{"sync"},
		{"sync", "a", "--all"},
		{"sync", "Bad_Name"},
		{"status", "-o", "yaml"},
		{"serve"},
		{"validate"},
		{"status", "--log-level", "loud"},
	}
	for _, args := range cases {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			_, _, err := cli(t, args...)
			if !errors.Is(err, errUsage) {
				t.Errorf("err %v, want a usage error", err)
			}
		})
	}
}

func TestValidateReportsEveryError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	bad := `
sources:
  - name: Bad_Name
    file: {path: x.json}
  - name: twice
    file: {path: x.json}
    syncPolicy: {interval: soon}
  - name: twice
    git: {repository: https://example.com/r.git}
    syncPolicy: {interval: 1h}
bogus: true
`
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := cli(t, "validate", "--config", path)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"Bad_Name", "syncPolicy.interval is required", "must be a duration such as", "duplicate source name 'twice'", "bogus"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func TestValidatePrintsRegistries(t *testing.T) {
	dir := t.TempDir()
	sources := "sources:\n" +
		"  - name: internal\n    file: {path: internal.json}\n    syncPolicy: {interval: 30m}\n" +
		"  - name: upstream\n    api: {endpoint: https://registry.example.com}\n    syncPolicy: {interval: 1h}\n" +
		"  - name: published\n    managed: {}\n"
	tests := []struct {
		name, registries string
		want             []string
	}{
		{
			name:       "configured, sources in order",
			registries: "registries:\n  - name: default\n    sources: [upstream, internal]\n  - name: mirror\n    sources: [upstream]\n",
			want:       []string{"  registry default: upstream, internal\n", "  registry mirror: upstream\n"},
		},
		{
			name: "one per synced source without a registries section",
			want: []string{"  registry internal: internal (no registries section: one per synced source)\n", "  registry upstream: upstream (no registries section: one per synced source)\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".yaml")
			if err := os.WriteFile(path, []byte(sources+tt.registries), 0o644); err != nil {
				t.Fatal(err)
			}
			out, errOut, err := cli(t, "validate", "--config", path)
			if err != nil {
				t.Fatalf("validate: %v\n%s", err, errOut)
			}
			_, block, _ := strings.Cut(out, "\n")
			if want := strings.Join(tt.want, ""); block != want {
				t.Errorf("registries printed:\n%s\nwant:\n%s", block, want)
			}
		})
	}
}

func TestValidateChecksFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "regsync.yaml")
	missing := filepath.Join(dir, "token")
	src := "sources:\n  - name: a\n    api: {endpoint: https://registry.example.com, bearerTokenFile: " + missing + "}\n    syncPolicy: {interval: 1h}\n"
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := cli(t, "validate", "--config", path)
	if err == nil || !strings.Contains(err.Error(), "source[0] (a): api.bearerTokenFile is not accessible") {
		t.Fatalf("err = %v, want the missing token file named", err)
	}
	if err := os.WriteFile(missing, []byte("t0k\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cli(t, "validate", "--config", path); err != nil {
		t.Errorf("with the file in place: %v", err)
	}
}

func TestVersion(t *testing.T) {
	out, _, err := cli(t, "version")
	if err != nil || !strings.Contains(out, "regsync ") || !strings.Contains(out, "go1.") {
		t.Errorf("version %q %v", out, err)
	}
}

// status lists the registries after the sources, and -o json holds them
// as a registries array beside the sources.
func TestStatusShowsRegistries(t *testing.T) {
	svc := startServe(t)
	testsupport.Eventually(t, "the registry's first generation", func() bool {
		out, _, err := cli(t, "status", "--config", svc.cfgPath, "-o", "json")
		var got struct {
			Sources    map[string]events.Status `json:"sources"`
			Registries []struct {
				Name string `json:"name"`
				events.RegistryStatus
			} `json:"registries"`
		}
		if err != nil || json.Unmarshal([]byte(out), &got) != nil {
			t.Fatalf("status -o json: %v\n%s", err, out)
		}
		if _, ok := got.Sources["local"]; !ok {
			t.Fatalf("status -o json without the source local:\n%s", out)
		}
		if len(got.Registries) != 1 {
			return false
		}
		r := got.Registries[0]
		ready, _ := r.Condition(events.ConditionReady)
		return r.Name == "default" && r.Generation >= 1 && r.ServerCount == 1 && ready.Status == events.ConditionTrue &&
			len(r.Sources) == 1 && r.Sources[0].Name == "local"
	})
	out, _, err := cli(t, "status", "--config", svc.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	src, reg, ok := strings.Cut(out, "\n\n")
	if !ok || !strings.Contains(src, "SOURCE") || !strings.HasPrefix(reg, "REGISTRY") {
		t.Fatalf("status table: want the sources, then the registries:\n%s", out)
	}
	fields := strings.Fields(strings.Split(reg, "\n")[1])
	if len(fields) < 6 || fields[0] != "default" || fields[2] != "1" || fields[3] != "True" || fields[4] != "False" || fields[5] != "local" {
		t.Fatalf("registry line %q, want default, its generation, 1 server, Ready, not Degraded, source local", fields)
	}
}
