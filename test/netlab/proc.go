package netlab

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Process is a program started in its own process group, so that a kill
// reaches whatever it forked, and reaped as soon as it ends.
type Process struct {
	Cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start starts cmd (often a Node.Command) in its own process group,
// keeping any other SysProcAttr the caller set.
func Start(cmd *exec.Cmd) (*Process, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{Cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id.
func (p *Process) Pid() int { return p.Cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is what waiting for the process returned (nil while it runs).
func (p *Process) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.err
}

// Signal sends sig to the process alone.
func (p *Process) Signal(sig syscall.Signal) error { return p.Cmd.Process.Signal(sig) }

// Kill sends SIGKILL to the whole process group: a crash.
func (p *Process) Kill() error {
	if p.Exited() {
		return nil
	}
	return syscall.Kill(-p.Pid(), syscall.SIGKILL)
}

// Wait waits up to timeout for the process to end.
func (p *Process) Wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("pid %d still running after %v", p.Pid(), timeout)
	}
}

// Stop ends the process: sig, and SIGKILL to its group if it still runs
// after timeout.
func (p *Process) Stop(sig syscall.Signal, timeout time.Duration) error {
	if p.Exited() {
		return nil
	}
	if err := p.Signal(sig); err == nil && p.Wait(timeout) == nil {
		return nil
	}
	p.Kill()
	return p.Wait(timeout)
}

// Namespaces lists the network namespaces whose name starts with prefix.
func Namespaces(prefix string) []string {
	entries, _ := os.ReadDir("/run/netns")
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// RemoveStale deletes the namespaces of labs whose program was killed
// before it could remove them: those named prefix<pid>-... where no
// process pid runs any more. Processes still inside are killed first.
// It returns the namespaces removed.
func RemoveStale(prefix string) []string {
	var removed []string
	for _, name := range Namespaces(prefix) {
		digits, _, ok := strings.Cut(strings.TrimPrefix(name, prefix), "-")
		pid, err := strconv.Atoi(digits)
		if !ok || err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		if out, err := exec.Command("ip", "netns", "pids", name).Output(); err == nil {
			for _, f := range strings.Fields(string(out)) {
				if p, err := strconv.Atoi(f); err == nil {
					syscall.Kill(p, syscall.SIGKILL)
				}
			}
		}
		if IP("netns", "del", name) == nil {
			removed = append(removed, name)
		}
	}
	return removed
}

// processAlive reports whether pid runs; a zombie (dead, not yet reaped
// by a parent that may never reap it) does not count.
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}
