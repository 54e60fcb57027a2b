package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// holdLockEnv makes the test binary, re-executed, hold a state directory's
// lock as 'hakeeper run' does, until its stdin closes.
const holdLockEnv = "HAKEEPER_TEST_HOLD_STATE_LOCK"

func TestHelperHoldStateLock(t *testing.T) {
	dir := os.Getenv(holdLockEnv)
	if dir == "" {
		t.Skip("helper process for TestStateDirLock")
	}
	lock, err := lockStateDir(dir)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	defer lock.Close()
	fmt.Println("locked")
	bufio.NewReader(os.Stdin).ReadString('\n')
}

const lockCluster = `cluster: x
nodes:
  a: {address: 192.0.2.1, interface: eth0}
vipGroups:
  web:
    vrid: 30
    vips: [192.0.2.100/24]
    nodes: [a]
services:
  http:
    vip: 192.0.2.100
    port: 80
    realServers:
      - {address: 198.51.100.1}
`

// Another process holding a state directory's lock (a running daemon)
// makes apply and a second run refuse, naming its pid and the lock; once
// it dies the kernel drops the lock and the directory can be taken.
func TestStateDirLock(t *testing.T) {
	dir := t.TempDir()
	source := writeTemp(t, lockCluster)

	holder := exec.Command(os.Args[0], "-test.run=^TestHelperHoldStateLock$")
	holder.Env = append(os.Environ(), holdLockEnv+"="+dir)
	stdin, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); holder.Process.Kill(); holder.Wait() })
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); strings.TrimSpace(line) != "locked" {
		t.Fatalf("helper did not take the lock: %q", line)
	}
	pid := fmt.Sprint("pid ", holder.Process.Pid)
	lockPath := filepath.Join(dir, stateLockName)

	if _, err := lockStateDir(dir); !errors.Is(err, errStateLocked) || !strings.Contains(err.Error(), pid) {
		t.Errorf("lock held elsewhere: err = %v, want errStateLocked naming %s", err, pid)
	}
	// Nothing listens at --addr (a daemon on a unix socket), yet apply refuses.
	code, out, errOut := runCLI(t, "apply", "--addr", "127.0.0.1:1", "--node", "a", "--state-dir", dir, source)
	if code != exitError || !strings.Contains(errOut, pid) || !strings.Contains(errOut, lockPath) || strings.Contains(out, "applied") {
		t.Errorf("apply beside a daemon: exit %d, stdout %q, stderr %q; want exit 1 naming %s and %s", code, out, errOut, pid, lockPath)
	}
	code, _, errOut = runCLI(t, "run", "--node", "a", "--source", source, "--state-dir", dir, "--listen", "off")
	if code != exitError || !strings.Contains(errOut, "not starting") || !strings.Contains(errOut, pid) {
		t.Errorf("second run on the same state dir: exit %d, stderr %q; want a refusal naming %s", code, errOut, pid)
	}

	// The holder dies without cleaning up: the lock goes with it.
	holder.Process.Kill()
	holder.Wait()
	lock, err := lockStateDir(dir)
	if err != nil {
		t.Fatalf("after the holder died: %v", err)
	}
	defer lock.Close()
	if b, _ := os.ReadFile(lockPath); strings.TrimSpace(string(b)) != fmt.Sprint(os.Getpid()) {
		t.Errorf("lock file holds %q, want this pid %d", b, os.Getpid())
	}
}
