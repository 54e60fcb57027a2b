package check

import (
	"bytes"
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
)

// execOutputTail is how much of a failing command's output the error
// message keeps: enough for the reason, not a log file.
const execOutputTail = 256

// execWaitDelay bounds how long a finished or killed command may keep its
// output pipes open through a descendant that left the process group.
const execWaitDelay = time.Second

// execProbe runs the command with the target's address and port appended
// (the check port: the server's own unless the check names another; $1
// and $2 for the shell form); exit
// status 0 passes. The command runs in its own process group, which is
// killed as a whole when the timeout expires, so a script that started
// children leaves nothing behind. With a user set, it runs as that user
// (uid, primary gid and supplementary groups from the user database).
type execProbe struct {
	args  []string
	start func(*exec.Cmd) error
	cred  *syscall.Credential
	who   string
}

func newExec(spec *model.CheckSpec, start func(*exec.Cmd) error) (Probe, error) {
	if spec.Exec == nil || spec.Exec.Command.IsZero() {
		return nil, errors.New("exec check: no command")
	}
	if start == nil {
		start = (*exec.Cmd).Start
	}
	p := &execProbe{args: spec.Exec.Command.Args(), start: start}
	if spec.Exec.Command.Shell != "" {
		// sh -c takes the first argument after the script as $0; give it
		// a name so the address and port arrive as $1 and $2.
		p.args = append(p.args, "hakeeper-check")
	}
	name := spec.Exec.User
	if name == "" {
		name = spec.User
	}
	if name != "" {
		cred, err := lookupCredential(name)
		if err != nil {
			return nil, fmt.Errorf("exec check: %v", err)
		}
		p.cred, p.who = cred, name
	}
	return p.run, nil
}

func lookupCredential(name string) (*syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("user %q: %v", name, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %q: uid %q: %v", name, u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %q: gid %q: %v", name, u.Gid, err)
	}
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	gids, err := u.GroupIds()
	if err != nil {
		return nil, fmt.Errorf("user %q: groups: %v", name, err)
	}
	for _, g := range gids {
		if n, err := strconv.ParseUint(g, 10, 32); err == nil {
			cred.Groups = append(cred.Groups, uint32(n))
		}
	}
	return cred, nil
}

func (p *execProbe) run(ctx context.Context, t Target) Result {
	args := append(append([]string(nil), p.args...), t.Address.String(), strconv.Itoa(int(t.Port)))
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: p.cred}
	cmd.Cancel = func() error {
		// The negative pid is the process group: the script and its children.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = execWaitDelay
	var out tailBuffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	began := time.Now()
	err := p.start(cmd)
	if err == nil {
		err = cmd.Wait()
	}
	lat := time.Since(began)
	if err == nil {
		return Result{Latency: lat}
	}
	if ctx.Err() != nil {
		return Result{Err: fmt.Errorf("timed out after %v (process group killed)", lat.Round(time.Millisecond)), Latency: lat}
	}
	msg := err.Error()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.Exited() {
		msg = "exit status " + strconv.Itoa(ee.ExitCode())
	}
	if o := strings.TrimSpace(out.String()); o != "" {
		msg += ": " + o
	}
	return Result{Err: errors.New(msg), Latency: lat}
}

// tailBuffer keeps the last execOutputTail bytes written to it.
type tailBuffer struct{ b bytes.Buffer }

func (t *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) > execOutputTail {
		p = p[len(p)-execOutputTail:]
	}
	t.b.Write(p)
	if extra := t.b.Len() - execOutputTail; extra > 0 {
		t.b.Next(extra)
	}
	return n, nil
}

func (t *tailBuffer) String() string { return t.b.String() }
