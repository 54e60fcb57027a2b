// Tests of the VM runner itself: they boot QEMU (a few seconds each) with
// this test binary as the guest program and check what the host sees.
package vm_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The guest side: when the runner boots this binary with
// HAKEEPER_VM_GUEST set, TestMain acts out the scenario instead of testing.
func TestMain(m *testing.M) {
	switch os.Getenv("HAKEEPER_VM_GUEST") {
	case "":
		os.Exit(m.Run())
	case "exit3":
		_, err := os.Stat("/proc/net/ip_vs")
		fmt.Printf("args=%q ipvs=%v\n", os.Args[1:], err == nil)
		fmt.Print("last line without newline")
		os.Exit(3)
	case "hang":
		time.Sleep(time.Hour)
	case "extra":
		out, err := exec.Command(os.Getenv("HAKEEPER_VM_EXTRA_RUN"), "--version").CombinedOutput()
		fmt.Printf("%s", out)
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(111)
}

func runner(t *testing.T, timeout string, guest string, args ...string) (string, string, int) {
	t.Helper()
	return runnerEnv(t, timeout, guest, nil, args...)
}

// runnerEnv is runner with more environment for the runner itself.
func runnerEnv(t *testing.T, timeout string, guest string, env []string, args ...string) (string, string, int) {
	t.Helper()
	for _, bin := range []string{"qemu-system-x86_64", "busybox", "cpio", "depmod", "xz"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed (test/vm/setup.sh installs it)", bin)
		}
	}
	if testing.Short() {
		t.Skip("boots a VM")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	run, _ := filepath.Abs("run")
	cmd := exec.Command(run, append([]string{self}, args...)...)
	cmd.Env = append(os.Environ(), "HAKEEPER_VM_ENV=HAKEEPER_VM_GUEST="+guest, "HAKEEPER_VM_TIMEOUT="+timeout)
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

func TestRunPassesOutputArgsAndExitStatus(t *testing.T) {
	stdout, stderr, code := runner(t, "600", "exit3", "a b", "-x=1")
	if code != 3 {
		t.Fatalf("exit status %d, want the guest's 3\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	// Only the guest's output, without \r, IPVS present, arguments
	// intact, and the unterminated last line kept.
	want := "args=[\"a b\" \"-x=1\"] ipvs=true\nlast line without newline\n"
	if stdout != want {
		t.Errorf("stdout %q, want %q", stdout, want)
	}
}

func TestRunTimeout(t *testing.T) {
	_, stderr, code := runner(t, "5", "hang")
	if code != 97 || !strings.Contains(stderr, "timeout after 5s") {
		t.Fatalf("exit status %d, stderr %q; want 97 and a timeout message", code, stderr)
	}
}

// TestRunExtraProgram: a dynamically linked host program named in
// HAKEEPER_VM_EXTRA runs in the guest at its own path.
func TestRunExtraProgram(t *testing.T) {
	prog, err := exec.LookPath("keepalived")
	if err != nil {
		t.Skip("keepalived not installed (make deps installs it)")
	}
	prog, _ = filepath.EvalSymlinks(prog)
	stdout, stderr, code := runnerEnv(t, "600", "extra", []string{
		"HAKEEPER_VM_EXTRA=" + prog,
		"HAKEEPER_VM_ENV=HAKEEPER_VM_GUEST=extra HAKEEPER_VM_EXTRA_RUN=" + prog,
	})
	if code != 0 || !strings.Contains(stdout, "Keepalived v") {
		t.Fatalf("exit status %d, stdout %q, stderr %q; want keepalived's version", code, stdout, stderr)
	}
}
