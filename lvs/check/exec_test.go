package check

import (
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/lvs/check/proc/proctest"
	"github.com/hakeeper/hakeeper/model"
)

var execTarget = Target{Address: netip.MustParseAddr("198.51.100.7"), Port: 8080}

func writeScript(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "check.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func execSpec(cmd model.Command, timeout time.Duration) *model.CheckSpec {
	return &model.CheckSpec{Type: "exec", Timeout: timeout, Exec: &model.ExecCheck{Command: cmd}}
}

// childRecorded reports whether an Orphaner script wrote its child's pid
// (echo writes it with its newline at once, after the fork).
func childRecorded(pidFile string) bool {
	raw, err := os.ReadFile(pidFile)
	return err == nil && strings.HasSuffix(string(raw), "\n")
}

func TestExecCheck(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	t.Run("exit 0 passes with address and port appended", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "args")
		script := writeScript(t, `echo "$@" > `+out)
		wantPass(t, probeOnce(t, execSpec(model.Command{Argv: []string{script, "--flag"}}, 2*time.Second), execTarget))
		got, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if want := "--flag 198.51.100.7 8080\n"; string(got) != want {
			t.Errorf("script saw arguments %q, want %q", got, want)
		}
	})
	t.Run("shell form gets the arguments as $1 $2", func(t *testing.T) {
		spec := execSpec(model.Command{Shell: `test "$1" = 198.51.100.7 && test "$2" = 8080`}, 2*time.Second)
		wantPass(t, probeOnce(t, spec, execTarget))
		wrong := Target{Address: execTarget.Address, Port: 9090}
		wantFail(t, probeOnce(t, spec, wrong), "exit status 1")
	})
	t.Run("exit 1 fails with the output tail", func(t *testing.T) {
		script := writeScript(t, "echo backend is sad >&2\nexit 1\n")
		wantFail(t, probeOnce(t, execSpec(model.Command{Argv: []string{script}}, 2*time.Second), execTarget), "exit status 1: backend is sad")
	})
	t.Run("missing program fails", func(t *testing.T) {
		r := probeOnce(t, execSpec(model.Command{Argv: []string{"/nonexistent/check"}}, time.Second), execTarget)
		wantFail(t, r, "no such file")
	})
	t.Run("timeout kills the whole process group", func(t *testing.T) {
		// Killing only the script would leave its child running.
		body, pidFile := proctest.Orphaner(t)
		script := writeScript(t, body)
		// A kill before the script recorded its child shows nothing (on a
		// loaded machine sh can take longer than the timeout to fork):
		// then try again with a longer timeout.
		for timeout := 300 * time.Millisecond; ; timeout *= 4 {
			var r Result
			took := elapsed(func() {
				r = probeOnce(t, execSpec(model.Command{Argv: []string{script}}, timeout), execTarget)
			})
			wantFail(t, r, "timed out")
			// Killing only the script, the check would wait for the
			// child's end of the output pipe: 300 s.
			if took > timeout+3*time.Second {
				t.Errorf("check took %v with a %v timeout", took, timeout)
			}
			if childRecorded(pidFile) {
				break
			}
			if timeout > 4*time.Second {
				t.Fatalf("the script never recorded its child within a %v timeout", timeout)
			}
		}
		proctest.WaitGone(t, pidFile)
	})
	t.Run("minimal environment, not the daemon's", func(t *testing.T) {
		t.Setenv("HKC_LEAK", "from-the-daemon")
		spec := execSpec(model.Command{Shell: `test -z "$HKC_LEAK" && test "$LANG" = C && test "$(pwd)" = /`}, 2*time.Second)
		wantPass(t, probeOnce(t, spec, execTarget))
	})
	t.Run("unknown user is refused up front", func(t *testing.T) {
		spec := execSpec(model.Command{Shell: "true"}, time.Second)
		spec.User = "hakeeper-no-such-user"
		if _, err := NewProbe(spec); err == nil || !strings.Contains(err.Error(), "hakeeper-no-such-user") {
			t.Errorf("NewProbe error %v, want one naming the user", err)
		}
	})
	t.Run("no command is refused up front", func(t *testing.T) {
		if _, err := NewProbe(&model.CheckSpec{Type: "exec"}); err == nil {
			t.Error("NewProbe accepted an exec check without a command")
		}
	})
}

func TestExecCheckAsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to switch users")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	// Passes only when run with nobody's uid; as root it fails, so the
	// test shows the switch happened.
	cmd := model.Command{Shell: `test "$(id -u)" = "` + nobody.Uid + `"`}
	asRoot := execSpec(cmd, 2*time.Second)
	wantFail(t, probeOnce(t, asRoot, execTarget), "exit status 1")

	for _, tc := range []struct {
		desc string
		set  func(*model.CheckSpec)
	}{
		{desc: "check spec user (defaults.scriptUser)", set: func(s *model.CheckSpec) { s.User = "nobody" }},
		{desc: "exec block user", set: func(s *model.CheckSpec) { s.Exec.User = "nobody" }},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			spec := execSpec(cmd, 2*time.Second)
			tc.set(spec)
			wantPass(t, probeOnce(t, spec, execTarget))
		})
	}
}

// TestExecCheckUsesTheCommandStarter: a real-time daemon injects a starter
// that forks at normal priority; the exec check must start through it and
// still see the command's real exit status.
func TestExecCheckUsesTheCommandStarter(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	var started []string
	start := func(cmd *exec.Cmd) error {
		started = append(started, cmd.Path)
		return cmd.Start()
	}
	pass, err := newProbe(execSpec(model.Command{Shell: "exit 0"}, 2*time.Second), start)
	if err != nil {
		t.Fatal(err)
	}
	wantPass(t, pass(t.Context(), execTarget))
	fail, _ := newProbe(execSpec(model.Command{Shell: "exit 3"}, 2*time.Second), start)
	wantFail(t, fail(t.Context(), execTarget), "exit status 3")
	if len(started) != 2 || started[0] != "/bin/sh" {
		t.Fatalf("starter saw %q, want two starts of /bin/sh", started)
	}
	refuse, _ := newProbe(execSpec(model.Command{Shell: "exit 0"}, 2*time.Second), func(*exec.Cmd) error { return errors.New("no fork for you") })
	wantFail(t, refuse(t.Context(), execTarget), "no fork for you")
}
