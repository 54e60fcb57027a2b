package netns

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/test/netlab"
)

// Process is a program running inside a node namespace (netlab's: Cmd,
// Pid, Exited, Signal, Kill). Its output is kept and logged when the test
// fails.
type Process struct {
	*netlab.Process
	Node *Node
	Name string

	out *syncBuffer
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Start runs args inside the node. The process is killed (SIGKILL) at
// cleanup if still running; its output is logged if the test failed.
func (n *Node) Start(t testing.TB, args ...string) *Process {
	t.Helper()
	return n.StartEnv(t, nil, args...)
}

// StartEnv is Start with extra environment variables.
func (n *Node) StartEnv(t testing.TB, env []string, args ...string) *Process {
	t.Helper()
	p := &Process{Node: n, Name: filepath.Base(args[0]), out: &syncBuffer{}}
	cmd := n.Command(context.Background(), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = p.out
	cmd.Stderr = p.out
	var err error
	if p.Process, err = netlab.Start(cmd); err != nil {
		t.Fatalf("%s: start %s: %v", n.Name, strings.Join(args, " "), err)
	}
	t.Cleanup(func() {
		p.Kill()
		p.Process.Wait(time.Hour)
		if t.Failed() {
			t.Logf("--- output of %s in %s:\n%s", p.Name, n.Name, p.Output())
		}
	})
	return p
}

// Output is everything the process wrote so far.
func (p *Process) Output() string { return p.out.String() }

// Wait waits up to timeout for the process to end and returns its exit
// code (-1 when killed by a signal).
func (p *Process) Wait(timeout time.Duration) (int, error) {
	if err := p.Process.Wait(timeout); err != nil {
		return 0, fmt.Errorf("%s in %s: %w", p.Name, p.Node.Name, err)
	}
	if p.Cmd.ProcessState == nil {
		return 0, p.Err()
	}
	return p.Cmd.ProcessState.ExitCode(), nil
}

// WaitOutput polls until the output contains s or timeout passes.
func (p *Process) WaitOutput(s string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.Output(), s) {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s in %s: %q not in output after %v", p.Name, p.Node.Name, s, timeout)
		}
		if p.Exited() && !strings.Contains(p.Output(), s) {
			return fmt.Errorf("%s in %s exited (%v) without printing %q", p.Name, p.Node.Name, p.Err(), s)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// Keepalived is a keepalived (VRRP only) running in a node.
type Keepalived struct {
	*Process
	// VRRPPidFile holds the VRRP child's pid (-r).
	VRRPPidFile string
}

// SkipNoKeepalived skips t when keepalived is not installed.
func SkipNoKeepalived(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("keepalived"); err != nil {
		t.Skip("needs keepalived (Debian package keepalived)")
	}
}

// StartKeepalived writes conf into a temp dir and runs keepalived in the
// foreground, VRRP only, logging to the console, with pid files of its
// own so several can run at once. It waits until the VRRP child exists.
func (n *Node) StartKeepalived(t testing.TB, conf string) *Keepalived {
	t.Helper()
	SkipNoKeepalived(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	pid := func(s string) string { return filepath.Join(dir, s+".pid") }
	k := &Keepalived{VRRPPidFile: pid("vrrp")}
	k.Process = n.Start(t, "keepalived", "-n", "-P", "-l", "-D", "-G", "-f", cfg,
		"-p", pid("main"), "-r", pid("vrrp"), "-c", pid("checkers"), "-b", pid("bfd"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := k.VRRPPid(); err == nil {
			break
		}
		if time.Now().After(deadline) || k.Exited() {
			t.Fatalf("keepalived in %s did not start its VRRP child:\n%s", n.Name, k.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return k
}

// VRRPPid reads the VRRP child's pid.
func (k *Keepalived) VRRPPid() (int, error) {
	b, err := os.ReadFile(k.VRRPPidFile)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s: bad pid %q", k.VRRPPidFile, b)
	}
	return pid, nil
}

// Crash SIGKILLs the VRRP child first (killing only the parent would
// make the child send a priority-0 advert), then the parent.
func (k *Keepalived) Crash() error {
	pid, err := k.VRRPPid()
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill VRRP child %d: %w", pid, err)
	}
	return k.Kill()
}

// Stop is a graceful stop (SIGTERM): keepalived sends priority 0 adverts.
func (k *Keepalived) Stop() error { return k.Signal(syscall.SIGTERM) }
