// Package proc runs the commands hakeeper starts on an operator's behalf
// — exec health checks (lvs/check), VRRP tracked checks and notify hooks
// (vrrpd/kernel) — all the same way: in "/", with a minimal environment,
// optionally as another user, in a process group of their own that is
// SIGKILLed as a whole when the caller's context ends, and through a
// starter the caller may inject (a real-time daemon forks at normal
// priority).
//
// It sits under lvs/check, beside the exec check it came from, and
// imports only the standard library, so vrrpd/kernel can use it without
// depending on the health checker or IPVS; lvs in turn never imports
// vrrpd. The real-time starter stays in vrrpd/kernel, which owns the
// scheduling policy.
package proc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// basePath is the PATH every command gets.
const basePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// waitDelay bounds how long a finished or killed command may keep its
// output pipe open through a descendant that left the process group.
const waitDelay = time.Second

// Environ is the whole environment a command starts with. It never
// inherits the daemon's: a check or hook must behave the same whether
// hakeeper was started from a shell or by systemd, and must not see the
// daemon's secrets or proxy settings. With a user, HOME, USER and LOGNAME
// are that user's, as login would set them.
func Environ(u *User) []string {
	env := []string{"PATH=" + basePath, "LANG=C"}
	if u != nil {
		env = append(env, "HOME="+u.Home, "USER="+u.Name, "LOGNAME="+u.Name)
	}
	return env
}

// User is who a command runs as.
type User struct {
	Name string
	Home string
	// Credential has the uid, primary gid and supplementary groups.
	Credential *syscall.Credential
}

// LookupUser finds name in the user database. An unknown user or a
// non-numeric uid or gid is an error naming the user. When the user's
// supplementary groups cannot be listed, the command runs without any
// (uid and primary gid only): fewer rights, never the daemon's groups,
// and a notify hook still runs during a failover.
func LookupUser(name string) (*User, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("user %q: %w", name, err)
	}
	return userFrom(u, u.GroupIds)
}

// userFrom builds a User from a user database entry; groupIDs lists the
// supplementary group ids.
func userFrom(u *user.User, groupIDs func() ([]string, error)) (*User, error) {
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %q: uid %q is not a number", u.Username, u.Uid)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %q: gid %q is not a number", u.Username, u.Gid)
	}
	// Non-nil and empty: setgroups(0) drops the daemon's groups.
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
	if ids, err := groupIDs(); err == nil {
		for _, g := range ids {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil {
				cred.Groups = append(cred.Groups, uint32(n))
			}
		}
	}
	return &User{Name: u.Username, Home: u.HomeDir, Credential: cred}, nil
}

// Cmd is a command to run.
type Cmd struct {
	// Argv is the program and its arguments; a program without a slash
	// is looked up in the command's PATH.
	Argv []string
	// User runs the command as that user; nil keeps the daemon's.
	User *User
	// Output receives standard output and standard error; nil discards
	// them.
	Output io.Writer
	// Start starts the prepared command ((*exec.Cmd).Start when nil). A
	// daemon running real-time passes one that forks at normal priority.
	Start func(*exec.Cmd) error
}

// Process is a started command.
type Process struct {
	cmd     *exec.Cmd
	ctx     context.Context
	started time.Time
}

// Start starts c. When ctx ends before the command does, its whole
// process group (the command and every child it started) is SIGKILLed.
func Start(ctx context.Context, c Cmd) (*Process, error) {
	if len(c.Argv) == 0 {
		return nil, errors.New("empty command")
	}
	// A bare program name is looked up in the command's PATH, not the
	// daemon's, which exec.Command would use.
	path := c.Argv[0]
	if !strings.Contains(path, "/") {
		var err error
		if path, err = lookPath(path); err != nil {
			return nil, err
		}
	}
	cmd := exec.CommandContext(ctx, path, c.Argv[1:]...)
	cmd.Args[0] = c.Argv[0]
	cmd.Dir = "/"
	cmd.Env = Environ(c.User)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if c.User != nil {
		cmd.SysProcAttr.Credential = c.User.Credential
	}
	cmd.Cancel = func() error {
		// The negative pid is the process group: the command and its children.
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		return err
	}
	cmd.WaitDelay = waitDelay
	if c.Output != nil {
		cmd.Stdout, cmd.Stderr = c.Output, c.Output
	}
	start := c.Start
	if start == nil {
		start = (*exec.Cmd).Start
	}
	p := &Process{cmd: cmd, ctx: ctx, started: time.Now()}
	if err := start(cmd); err != nil {
		return nil, err
	}
	return p, nil
}

// lookPath finds a program in basePath.
func lookPath(name string) (string, error) {
	for _, dir := range filepath.SplitList(basePath) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", &exec.Error{Name: name, Err: exec.ErrNotFound}
}

// Wait waits for the command to end and returns how it ended. The error
// is a *KilledError when the context ended first, otherwise any error
// other than the command's own exit status.
func (p *Process) Wait() (Status, error) {
	err := p.cmd.Wait()
	if err != nil && p.ctx.Err() != nil {
		return Status{}, &KilledError{After: time.Since(p.started), Cause: context.Cause(p.ctx)}
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return Status{Signal: ws.Signal()}, nil
		}
		return Status{Code: ee.ExitCode()}, nil
	}
	return Status{}, err
}

// Run starts c and waits for it.
func Run(ctx context.Context, c Cmd) (Status, error) {
	p, err := Start(ctx, c)
	if err != nil {
		return Status{}, err
	}
	return p.Wait()
}

// Status is how a command ended: an exit code, or the signal that
// killed it.
type Status struct {
	Code   int
	Signal syscall.Signal
}

// Success reports an exit code of 0.
func (s Status) Success() bool { return s.Code == 0 && s.Signal == 0 }

// ExitCode is the exit code, or 128+signal for a killed command, as a
// shell reports it.
func (s Status) ExitCode() int {
	if s.Signal != 0 {
		return 128 + int(s.Signal)
	}
	return s.Code
}

// String is "exit status 3" or "signal: terminated".
func (s Status) String() string {
	if s.Signal != 0 {
		return "signal: " + s.Signal.String()
	}
	return "exit status " + strconv.Itoa(s.Code)
}

// KilledError reports a command whose process group was killed because
// the caller's context ended. It unwraps to the context's cause.
type KilledError struct {
	After time.Duration
	Cause error
}

func (e *KilledError) Error() string {
	if errors.Is(e.Cause, context.DeadlineExceeded) {
		return fmt.Sprintf("timed out after %v (process group killed)", e.After.Round(time.Millisecond))
	}
	return fmt.Sprintf("stopped after %v (process group killed): %v", e.After.Round(time.Millisecond), e.Cause)
}

func (e *KilledError) Unwrap() error { return e.Cause }
