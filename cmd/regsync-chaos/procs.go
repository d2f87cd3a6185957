package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// proc is a child process: a nats-server, a regsync replica or a client.
type proc struct {
	name    string
	cmd     *exec.Cmd
	done    chan struct{}
	started time.Time
	// state is how the process ended ("exit status 0", "signal:
	// killed"), once done is closed.
	state string
}

// Pid is the process id.
func (p *proc) Pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL and waits for the process to end.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// term sends SIGTERM and waits up to limit for the process to end; past it
// the process is killed. It returns how long the process took and whether
// it ended within limit.
func (p *proc) term(limit time.Duration) (time.Duration, bool) {
	start := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-p.done:
		return time.Since(start), true
	case <-t.C:
		p.kill()
		return time.Since(start), false
	}
}

// procs keeps every process the suite started, so that all of them are
// killed at the end, whatever happened.
type procs struct {
	mu   sync.Mutex
	live map[*proc]struct{}
}

// start runs bin with args; its output goes to stdout and stderr (nil
// discards it). The process gets its own process group, so a Ctrl-C in the
// terminal reaches the suite only and the suite decides how each child
// ends, and on Linux it is killed if the suite dies.
func (ps *procs) start(name string, stdout, stderr io.Writer, env []string, bin string, args ...string) (*proc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), started: time.Now()}
	ps.mu.Lock()
	if ps.live == nil {
		ps.live = make(map[*proc]struct{})
	}
	ps.live[p] = struct{}{}
	ps.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		p.state = cmd.ProcessState.String()
		ps.mu.Lock()
		delete(ps.live, p)
		ps.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

// killAll kills every process still running and waits for them.
func (ps *procs) killAll() {
	ps.mu.Lock()
	var all []*proc
	for p := range ps.live {
		all = append(all, p)
	}
	ps.mu.Unlock()
	for _, p := range all {
		p.kill()
	}
}

// logFile opens a process's log for appending: a restarted process writes
// after the lines of its previous life.
func logFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	return f, nil
}

// freePort returns a loopback TCP port that is free right now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// freePorts returns n distinct free loopback ports.
func freePorts(n int) ([]int, error) {
	seen := make(map[int]bool)
	var ports []int
	for len(ports) < n {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		if !seen[p] {
			seen[p] = true
			ports = append(ports, p)
		}
	}
	return ports, nil
}

var errInterrupted = errors.New("interrupted")
