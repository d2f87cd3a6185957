package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/regsync/regsync/internal/childproc"
)

// replica is one regsync serve process with its own data directory and
// configuration.
type replica struct {
	name               string
	dataDir, conf, log string
	httpPort           int
	p                  *proc
}

// natsSection is the nats: part of a replica's configuration.
type natsSection struct {
	url, user, password string
	replicas            int
	embeddedListen      string // for the embedded server
}

// registryDef is a registry of the configuration: its name and its
// sources in their order of precedence.
type registryDef struct {
	name    string
	sources []string
}

// registriesOf are the two registries of every deployment, over
// overlapping sources in different orders, so that which source wins a
// shared name depends on the registry: ab = [s1, s2, s3] and
// ba = [s3, s2, s4] of the deployment's sources (at least 4).
func registriesOf(sources []string) []registryDef {
	return []registryDef{
		{"ab", []string{sources[0], sources[1], sources[2]}},
		{"ba", []string{sources[2], sources[1], sources[3]}},
	}
}

// minSources is how many sources registriesOf needs.
const minSources = 4

// newReplica writes a replica's configuration: its data directory, its
// NATS, its HTTP port, the file sources and the registries.
func (e *env) newReplica(dir, name string, nats natsSection, sources []string, regs []registryDef, files *registries) (*replica, error) {
	port, err := childproc.FreePort()
	if err != nil {
		return nil, err
	}
	r := &replica{
		name:     name,
		dataDir:  filepath.Join(dir, name),
		conf:     filepath.Join(dir, name+".yaml"),
		log:      filepath.Join(dir, name+".log"),
		httpPort: port,
	}
	var b strings.Builder
	fmt.Fprintf(&b, "dataDir: %q\nhttp:\n  addr: 127.0.0.1:%d\nnats:\n", r.dataDir, port)
	if nats.url != "" {
		fmt.Fprintf(&b, "  url: %q\n  user: %q\n  password: %q\n  replicas: %d\n", nats.url, nats.user, nats.password, nats.replicas)
	} else {
		fmt.Fprintf(&b, "  embedded:\n    listen: %s\n", nats.embeddedListen)
	}
	b.WriteString("sources:\n")
	for _, s := range sources {
		fmt.Fprintf(&b, "  - name: %s\n    file:\n      path: %q\n    syncPolicy:\n      interval: 30m\n", s, files.path(s))
	}
	b.WriteString("registries:\n")
	for _, reg := range regs {
		fmt.Fprintf(&b, "  - name: %s\n    sources: [%s]\n", reg.name, strings.Join(reg.sources, ", "))
	}
	if err := os.WriteFile(r.conf, []byte(b.String()), 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", r.conf, err)
	}
	return r, nil
}

// start runs the replica and waits until /readyz answers.
func (e *env) startReplica(ctx context.Context, r *replica) error {
	f, err := childproc.LogFile(r.log)
	if err != nil {
		return err
	}
	p, err := e.procs.Start("regsync "+r.name, f, f, nil, e.regsync, "serve", "--config", r.conf)
	if err != nil {
		f.Close()
		return err
	}
	go func() { <-p.Done(); f.Close() }()
	r.p = p
	url := fmt.Sprintf("http://127.0.0.1:%d/readyz", r.httpPort)
	deadline := time.Now().Add(readyLimit)
	for {
		if err := waitHTTP(ctx, url, time.Second); err == nil {
			return nil
		}
		switch {
		case ctx.Err() != nil:
			return errInterrupted
		case p.Exited():
			return fmt.Errorf("replica %s %w: %s", r.name, errExited, lastLine(r.log))
		case time.Now().After(deadline):
			return fmt.Errorf("replica %s not ready %s after its start; its last log line: %s", r.name, readyLimit, lastLine(r.log))
		}
	}
}

// errExited marks a replica that ended before it became ready.
var errExited = errors.New("exited while starting")

// readyLimit is how long a replica may take to become ready.
const readyLimit = 60 * time.Second

// lastLine returns the last line of a log file.
func lastLine(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	return lines[len(lines)-1]
}

// holder is how the replica names itself in the leases it takes: the
// stable identity regsync keeps in its data directory, or, without one,
// host/pid.
func (r *replica) holder(host string) string {
	if id, err := os.ReadFile(filepath.Join(r.dataDir, "replica-id")); err == nil && strings.TrimSpace(string(id)) != "" {
		return strings.TrimSpace(string(id))
	}
	return fmt.Sprintf("%s/%d", host, r.p.Pid())
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
