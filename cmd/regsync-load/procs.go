package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/regsync/regsync/internal/childproc"
)

// bench is one run: its directory, its processes, its registry files.
type bench struct {
	o     *options
	dir   string
	out   io.Writer
	procs childproc.Set

	natsURL, user, password string
	smallPath, bigPath      string
	replicas                []*replica
	client                  *http.Client
}

// replica is one regsync serve process with its own data directory and
// configuration.
type replica struct {
	name               string
	dataDir, conf, log string
	httpPort           int
	p                  *childproc.Proc
}

func (r *replica) url(path string) string {
	return "http://" + r.addr() + path
}

// addr is the replica's HTTP address, host:port.
func (r *replica) addr() string { return fmt.Sprintf("127.0.0.1:%d", r.httpPort) }

// startNATS starts one nats-server with JetStream on loopback, with one
// user for every replica, and waits until it answers.
func (b *bench) startNATS(ctx context.Context) error {
	ports, err := childproc.FreePorts(2)
	if err != nil {
		return err
	}
	b.user, b.password = "regsync", randomHex(16)
	b.natsURL = fmt.Sprintf("nats://127.0.0.1:%d", ports[0])
	conf := filepath.Join(b.dir, "nats.conf")
	text := fmt.Sprintf(`server_name: load
listen: 127.0.0.1:%d
http: 127.0.0.1:%d
max_payload: 8MB
jetstream {
  store_dir: %q
  max_memory_store: 64MB
  max_file_store: 4GB
}
authorization {
  user: %s
  password: %q
}
`, ports[0], ports[1], filepath.Join(b.dir, "nats"), b.user, b.password)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", conf, err)
	}
	f, err := childproc.LogFile(filepath.Join(b.dir, "nats.log"))
	if err != nil {
		return err
	}
	p, err := b.procs.Start("nats-server", f, f, nil, b.o.natsServer, "-c", conf)
	if err != nil {
		f.Close()
		return err
	}
	go func() { <-p.Done(); f.Close() }()
	return b.waitStatus(ctx, fmt.Sprintf("http://127.0.0.1:%d/healthz?js-enabled-only=true", ports[1]), 30*time.Second)
}

// newReplica writes a replica's configuration: its data directory, the
// shared NATS, its HTTP port and the two file sources. served names the
// registries it serves; empty serves every source as a registry of its own
// name (the default).
func (b *bench) newReplica(name string, served ...string) (*replica, error) {
	port, err := childproc.FreePort()
	if err != nil {
		return nil, err
	}
	r := &replica{
		name:     name,
		dataDir:  filepath.Join(b.dir, name),
		conf:     filepath.Join(b.dir, name+".yaml"),
		log:      filepath.Join(b.dir, name+".log"),
		httpPort: port,
	}
	var s strings.Builder
	fmt.Fprintf(&s, "dataDir: %q\nhttp:\n  addr: 127.0.0.1:%d\n", r.dataDir, port)
	fmt.Fprintf(&s, "nats:\n  url: %q\n  user: %q\n  password: %q\n", b.natsURL, b.user, b.password)
	s.WriteString("sources:\n")
	for _, src := range []struct{ name, path string }{{"small", b.smallPath}, {"big", b.bigPath}} {
		fmt.Fprintf(&s, "  - name: %s\n    file:\n      path: %q\n    syncPolicy:\n      interval: 30m\n", src.name, src.path)
	}
	if len(served) > 0 {
		s.WriteString("registries:\n")
		for _, reg := range served {
			fmt.Fprintf(&s, "  - name: %s\n    sources: [%s]\n", reg, reg)
		}
	}
	if err := os.WriteFile(r.conf, []byte(s.String()), 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", r.conf, err)
	}
	return r, nil
}

// start runs the replica; it does not wait for it.
func (b *bench) start(r *replica) error {
	f, err := childproc.LogFile(r.log)
	if err != nil {
		return err
	}
	args := []string{"serve", "--config", r.conf}
	if b.o.keep {
		// Kept logs are for finding where the time of a step went.
		args = append(args, "--log-level", "debug")
	}
	p, err := b.procs.Start("regsync "+r.name, f, f, nil, b.o.regsync, args...)
	if err != nil {
		f.Close()
		return err
	}
	go func() { <-p.Done(); f.Close() }()
	r.p = p
	return nil
}

// waitReady waits until the replica's /readyz answers 200.
func (b *bench) waitReady(ctx context.Context, r *replica) error {
	if err := b.waitStatus(ctx, r.url("/readyz"), 2*time.Minute); err != nil {
		return fmt.Errorf("replica %s: %w; its last log line: %s", r.name, err, lastLine(r.log))
	}
	return nil
}

// waitStatus polls url until it answers 200.
func (b *bench) waitStatus(ctx context.Context, url string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		if res, err := b.get(ctx, url, ""); err == nil && res.code == http.StatusOK {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer 200 within %s", url, limit)
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
}

// lastLine returns the last line of a log file.
func lastLine(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	return lines[len(lines)-1]
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
