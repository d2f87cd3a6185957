// Package childproc starts and ends the child processes of regsync's
// out-of-process tools (the fault suite, the API load tool): nats-server
// nodes, regsync replicas and clients, each in its own process group and,
// on Linux, killed if the tool dies, so that nothing outlives a run.
package childproc

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Proc is a child process.
type Proc struct {
	Name    string
	Started time.Time

	cmd  *exec.Cmd
	done chan struct{}
	// state is how the process ended ("exit status 0", "signal:
	// killed"), once done is closed.
	state string
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has ended.
func (p *Proc) Done() <-chan struct{} { return p.done }

// State is how the process ended; empty while it runs.
func (p *Proc) State() string {
	select {
	case <-p.done:
		return p.state
	default:
		return ""
	}
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Kill sends SIGKILL and waits for the process to end.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Term sends SIGTERM and waits up to limit for the process to end; past it
// the process is killed. It returns how long the process took and whether
// it ended within limit.
func (p *Proc) Term(limit time.Duration) (time.Duration, bool) {
	start := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-p.done:
		return time.Since(start), true
	case <-t.C:
		p.Kill()
		return time.Since(start), false
	}
}

// Set keeps every process a tool started, so that all of them are killed
// at the end, whatever happened. The zero Set is ready to use.
type Set struct {
	mu   sync.Mutex
	live map[*Proc]struct{}
}

// Start runs bin with args; its output goes to stdout and stderr (nil
// discards it), env is added to the tool's environment. The process gets
// its own process group, so a Ctrl-C in the terminal reaches the tool only
// and the tool decides how each child ends, and on Linux it is killed if
// the tool dies.
func (s *Set) Start(name string, stdout, stderr io.Writer, env []string, bin string, args ...string) (*Proc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, cmd: cmd, done: make(chan struct{}), Started: time.Now()}
	s.mu.Lock()
	if s.live == nil {
		s.live = make(map[*Proc]struct{})
	}
	s.live[p] = struct{}{}
	s.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		p.state = cmd.ProcessState.String()
		s.mu.Lock()
		delete(s.live, p)
		s.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

// KillAll kills every process still running and waits for them.
func (s *Set) KillAll() {
	s.mu.Lock()
	var all []*Proc
	for p := range s.live {
		all = append(all, p)
	}
	s.mu.Unlock()
	for _, p := range all {
		p.Kill()
	}
}

// LogFile opens a process's log for appending: a restarted process writes
// after the lines of its previous life.
func LogFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	return f, nil
}

// FreePort returns a loopback TCP port that is free right now.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// FreePorts returns n distinct free loopback ports.
func FreePorts(n int) ([]int, error) {
	seen := make(map[int]bool)
	var ports []int
	for len(ports) < n {
		p, err := FreePort()
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
