package kernel

import (
	"context"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/lvs/check/proc/proctest"
	"github.com/hakeeper/hakeeper/model"
)

func TestRunner(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	t.Setenv("HKV_LEAK", "from-the-daemon")
	for _, tc := range []struct {
		desc     string
		cmd      model.Command
		args     []string
		wantCode int
		wantOut  string
	}{
		{desc: "exit status", cmd: model.Command{Shell: "exit 3"}, wantCode: 3},
		{desc: "success", cmd: model.Command{Argv: []string{"true"}}, wantCode: 0},
		{desc: "shell form appends quoted args", cmd: model.Command{Shell: "printf '%s|' >" + out},
			args: []string{"web", "it's master", "200"}, wantOut: "web|it's master|200|"},
		{desc: "exec form appends args", cmd: model.Command{Argv: []string{"sh", "-c", `printf '%s|' "$@" >` + out, "sh"}},
			args: []string{"a b", "c"}, wantOut: "a b|c|"},
		{desc: "minimal environment", cmd: model.Command{Shell: `test -z "$HKV_LEAK" && test -n "$PATH"`}, wantCode: 0},
		{desc: "signal is 128+n", cmd: model.Command{Shell: "kill -TERM $$"}, wantCode: 128 + int(syscall.SIGTERM)},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			os.Remove(out)
			code, err := Runner{}.RunTimeout(5*time.Second, tc.cmd, "", tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d", code, tc.wantCode)
			}
			if tc.wantOut != "" {
				b, _ := os.ReadFile(out)
				if string(b) != tc.wantOut {
					t.Errorf("output %q, want %q", b, tc.wantOut)
				}
			}
		})
	}

	t.Run("missing program is an error", func(t *testing.T) {
		if _, err := (Runner{}).RunTimeout(time.Second, model.Command{Argv: []string{"/nonexistent/hkv"}}, ""); err == nil {
			t.Error("want a start error")
		}
	})

	t.Run("timeout kills the process group", func(t *testing.T) {
		script, pidFile := proctest.Orphaner(t)
		// Long enough for sh to fork the sleep and write its pid on a
		// loaded machine; the bound on took shows the kill came from the
		// timeout, not from the 300 s sleep ending.
		const timeout = 2 * time.Second
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		start := time.Now()
		_, err := Runner{}.Run(ctx, model.Command{Shell: script}, "")
		took := time.Since(start)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err %v, want a timeout error", err)
		}
		if took > timeout+3*time.Second {
			t.Errorf("Run returned %v after it started, want about the %v timeout", took, timeout)
		}
		proctest.WaitGone(t, pidFile)
	})

	t.Run("runs as the named user", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to change user")
		}
		u, err := user.Lookup("nobody")
		if err != nil {
			t.Skip("no user nobody")
		}
		code, err := Runner{}.RunTimeout(5*time.Second, model.Command{Shell: `test "$(id -u)" = ` + u.Uid + ` && test "$USER" = nobody`}, "nobody")
		if err != nil || code != 0 {
			t.Errorf("as nobody: code %d, %v", code, err)
		}
		if _, err := (Runner{}).RunTimeout(time.Second, model.Command{Shell: "true"}, "hkv-no-such-user"); err == nil || !strings.Contains(err.Error(), "hkv-no-such-user") {
			t.Errorf("unknown user: want an error naming it, got %v", err)
		}
	})
}
