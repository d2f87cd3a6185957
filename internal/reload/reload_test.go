package reload

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/regsync/regsync/internal/config"
	"github.com/regsync/regsync/internal/testsupport"
)

const baseConfig = `
sources:
  - name: one
    file: {path: one.json}
    syncPolicy: {interval: 30m}
`

// applied records every accepted configuration.
type applied struct {
	mu   sync.Mutex
	cfgs []*config.Config
}

func (a *applied) apply(_ context.Context, _, next *config.Config) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cfgs = append(a.cfgs, next)
	return nil
}

func (a *applied) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.cfgs)
}

func (a *applied) last() *config.Config {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfgs[len(a.cfgs)-1]
}

// start runs a Reloader of path until the test ends and returns once it
// listens for SIGHUP and watches the file.
func start(t *testing.T, path string) (*applied, *testsupport.Buffer) {
	t.Helper()
	cfg, _, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	a := &applied{}
	logs := &testsupport.Buffer{}
	r := New(path, cfg, a.apply, slog.New(slog.NewTextHandler(logs, nil)))
	r.debounce = 20 * time.Millisecond
	ready := make(chan struct{})
	r.ready = func() { close(ready) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		done <- err // for the cleanup
		t.Fatalf("Run returned before it was ready: %v", err)
	}
	return a, logs
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReloadOnFileChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	write(t, path, baseConfig)
	a, logs := start(t, path)

	write(t, path, baseConfig+`  - name: two
    file: {path: two.json}
    syncPolicy: {interval: 1h}
`)
	testsupport.Eventually(t, "reload with two sources", func() bool { return a.count() == 1 && len(a.last().Sources) == 2 })

	t.Run("an invalid config is rejected and the old one stays", func(t *testing.T) {
		write(t, path, "sources:\n  - name: Bad_Name\n")
		testsupport.Eventually(t, "a rejection in the log", func() bool { return logs.Contains("config reload rejected") })
		if a.count() != 1 {
			t.Errorf("an invalid config was applied")
		}
		if !strings.Contains(logs.String(), "Bad_Name") {
			t.Errorf("the rejection does not say why:\n%s", logs.String())
		}
	})
	t.Run("an atomic rename is noticed", func(t *testing.T) {
		tmp := path + ".tmp"
		write(t, tmp, baseConfig+"http: {addr: 127.0.0.1:9999}\n")
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
		testsupport.Eventually(t, "the renamed config", func() bool { return a.count() == 2 })
		if !strings.Contains(logs.String(), "section=http") {
			t.Errorf("no restart warning for http:\n%s", logs.String())
		}
	})
}

func TestReloadOnSIGHUP(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	write(t, path, baseConfig)
	a, _ := start(t, path)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, "a forced reload", func() bool { return a.count() == 1 })
}

func TestRestartSections(t *testing.T) {
	a := config.Default()
	b := config.Default()
	b.HTTP.Addr = "0.0.0.0:1"
	b.Sync.Workers = 9
	b.Sources = []config.Source{{Name: "x"}}
	b.Webhooks.GitHub.SecretFile = "/run/secrets/github" // re-read live
	if got := RestartSections(a, b); !slices.Equal(got, []string{"http", "sync"}) {
		t.Errorf("sections %v", got)
	}
	b.Webhooks.MaxBodySize = 1 << 10
	if got := RestartSections(a, b); !slices.Equal(got, []string{"http", "webhooks.maxBodySize", "sync"}) {
		t.Errorf("sections %v", got)
	}
	// Every section read only at start counts, down to the webhook
	// limits beside the live secrets.
	c := config.Default()
	c.Events.ContentMode = "binary"
	c.Webhooks.MaxUnverifiedBytes = 1 << 20
	if got := RestartSections(a, c); !slices.Equal(got, []string{"events", "webhooks.maxUnverifiedBytes"}) {
		t.Errorf("sections %v", got)
	}
	// The registries follow the sources live; the API's listener does not.
	d := config.Default()
	d.Registries = []config.Registry{{Name: "r", Sources: []string{"x"}}}
	d.API.Addr = "127.0.0.1:8081"
	if got := RestartSections(a, d); !slices.Equal(got, []string{"api"}) {
		t.Errorf("sections %v", got)
	}
}

func TestReloadRefusesRemovingASourceOfARegistry(t *testing.T) {
	const withTwo = baseConfig + `  - name: two
    file: {path: two.json}
    syncPolicy: {interval: 1h}
`
	const registries = `registries:
  - name: default
    sources: [two, one]
`
	path := filepath.Join(t.TempDir(), "config.yaml")
	write(t, path, withTwo+registries)
	a, logs := start(t, path)

	write(t, path, baseConfig+registries)
	testsupport.Eventually(t, "a rejection in the log", func() bool { return logs.Contains("config reload rejected") })
	if a.count() != 0 {
		t.Errorf("a configuration whose registry lists a removed source was applied")
	}
	if !strings.Contains(logs.String(), "registries[0] (default): references unknown source 'two'") {
		t.Errorf("the rejection does not name the registry and the source:\n%s", logs.String())
	}

	// Removing the source from the registry too is accepted.
	write(t, path, baseConfig+"registries:\n  - name: default\n    sources: [one]\n")
	testsupport.Eventually(t, "the reload without the source", func() bool { return a.count() == 1 })
	if got := a.last().EffectiveRegistries(); len(got) != 1 || !slices.Equal(got[0].Sources, []string{"one"}) {
		t.Errorf("registries = %+v", got)
	}
	if strings.Contains(logs.String(), "section=registries") {
		t.Errorf("a registries change is reported as needing a restart:\n%s", logs.String())
	}
}
