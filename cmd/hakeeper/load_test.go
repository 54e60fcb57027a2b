package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hangBound is how long a command refusing a file may take before the
// test calls it hung: far beyond any scheduling delay on a loaded
// machine, far below forever (the old reader blocked on a FIFO for good).
const hangBound = 20 * time.Second

// runCLIBounded is runCLI that fails the test instead of hanging.
func runCLIBounded(t *testing.T, args ...string) (int, string) {
	t.Helper()
	type result struct {
		code   int
		stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, _, stderr := runCLI(t, args...)
		done <- result{code, stderr}
	}()
	select {
	case r := <-done:
		return r.code, r.stderr
	case <-time.After(hangBound):
		t.Fatalf("hakeeper %s hung", strings.Join(args, " "))
		return 0, ""
	}
}

// Every command reading a description refuses a *.yaml that is a FIFO,
// a device or a socket, at once and by name, beside a valid file.
func TestCommandsRefuseSpecialFiles(t *testing.T) {
	valid, err := os.ReadFile(filepath.Join(demoPath, "cluster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]func(t *testing.T, name string){
		"fifo": func(t *testing.T, name string) {
			if err := syscall.Mkfifo(name, 0o644); err != nil {
				t.Fatal(err)
			}
		},
		"symlink to /dev/zero":    func(t *testing.T, name string) { symlink(t, "/dev/zero", name) },
		"symlink to /dev/urandom": func(t *testing.T, name string) { symlink(t, "/dev/urandom", name) },
		"unix socket": func(t *testing.T, name string) {
			l, err := net.Listen("unix", name)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
		},
	}
	commands := [][]string{
		{"validate"},
		{"plan", "--offline", "--node", "lb1"},
		{"show", "--node", "lb1"},
	}
	for kind, mk := range kinds {
		for _, asPath := range []bool{false, true} {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "a.yaml"), valid, 0o644); err != nil {
				t.Fatal(err)
			}
			bad := filepath.Join(dir, "b.yaml")
			mk(t, bad)
			arg, why := dir, []string{"not a regular file", "a symlink leading out of"}
			if asPath {
				arg, why = bad, why[:1]
			}
			for _, c := range commands {
				code, stderr := runCLIBounded(t, append(c, arg)...)
				said := false
				for _, w := range why {
					said = said || strings.Contains(stderr, bad+": "+w)
				}
				if code != exitError || !said {
					t.Errorf("%s, hakeeper %s %s: exit %d, stderr:\n%s", kind, strings.Join(c, " "), arg, code, stderr)
				}
			}
		}
	}
}

func symlink(t *testing.T, target, name string) {
	t.Helper()
	if err := os.Symlink(target, name); err != nil {
		t.Fatal(err)
	}
}

// The examples directory holds one cluster per sub-directory: validating
// it names them instead of merging five clusters into one.
func TestValidateParentOfClusters(t *testing.T) {
	code, stderr := runCLIBounded(t, "validate", "../../examples")
	if code != exitError || !strings.Contains(stderr, "../../examples: no *.yaml or *.yml files (sub-directories are not read); did you mean ../../examples/") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
	if n := strings.Count(stderr, "\n"); n != 1 {
		t.Errorf("%d lines, want the one error line with the hint:\n%s", n, stderr)
	}
}
