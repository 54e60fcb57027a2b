package kernel

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/vrrpd"
)

// minimalEnv is all a hook or check gets: it must not depend on the
// daemon's environment, which differs between a shell and systemd.
var minimalEnv = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}

// Runner runs notify hooks and tracked checks as processes.
type Runner struct{}

var _ vrrpd.Runner = Runner{}

// Run executes cmd with args appended and returns its exit status. The
// exec form gets args as extra argv entries; the shell form gets them
// appended to the script, single-quoted, as keepalived appends them to
// its command line. The process runs in its own process group, which is
// killed when ctx ends; then Run returns an error. A process killed by a
// signal reports 128+signal, like a shell.
func (Runner) Run(ctx context.Context, cmd model.Command, username string, args ...string) (int, error) {
	if cmd.IsZero() {
		return 0, errors.New("empty command")
	}
	var argv []string
	if cmd.Shell != "" {
		s := cmd.Shell
		for _, a := range args {
			s += " " + shellQuote(a)
		}
		argv = []string{"/bin/sh", "-c", s}
	} else {
		argv = append(cmd.Args(), args...)
	}
	c := exec.Command(argv[0], argv[1:]...)
	c.Env = append([]string(nil), minimalEnv...)
	c.Dir = "/"
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if username != "" {
		cred, home, err := lookupUser(username)
		if err != nil {
			return 0, err
		}
		c.SysProcAttr.Credential = cred
		c.Env = append(c.Env, "HOME="+home, "USER="+username, "LOGNAME="+username)
	}
	// StartNormal: a daemon running real-time must not pass its policy on.
	if err := StartNormal(c); err != nil {
		return 0, fmt.Errorf("start %s: %w", cmd, err)
	}
	waited := make(chan error, 1)
	go func() { waited <- c.Wait() }()
	var err error
	select {
	case err = <-waited:
	case <-ctx.Done():
		// The whole group: a shell's children must not outlive the timeout.
		syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		<-waited
		return 0, fmt.Errorf("%s: %w", cmd, ctx.Err())
	}
	if err == nil {
		return 0, nil
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return 0, fmt.Errorf("%s: %w", cmd, err)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return ee.ExitCode(), nil
}

// RunTimeout is Run with a timeout, for callers without a context.
func (r Runner) RunTimeout(timeout time.Duration, cmd model.Command, user string, args ...string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return r.Run(ctx, cmd, user, args...)
}

func lookupUser(name string) (*syscall.Credential, string, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, "", fmt.Errorf("script user %q: %w", name, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, "", fmt.Errorf("script user %q: non-numeric uid/gid %s/%s", name, u.Uid, u.Gid)
	}
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if ids, err := u.GroupIds(); err == nil {
		for _, g := range ids {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil {
				cred.Groups = append(cred.Groups, uint32(n))
			}
		}
	} else {
		// Without supplementary groups, drop ours rather than keep root's.
		cred.Groups = []uint32{}
	}
	return cred, u.HomeDir, nil
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
