package check

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/hakeeper/hakeeper/lvs/check/proc"
	"github.com/hakeeper/hakeeper/model"
)

// execOutputTail is how much of a failing command's output the error
// message keeps: enough for the reason, not a log file.
const execOutputTail = 256

// execProbe is the exec check, as the package doc describes; the command
// runs through proc, as the check's user when one is set.
type execProbe struct {
	args  []string
	start func(*exec.Cmd) error
	user  *proc.User
}

func newExec(spec *model.CheckSpec, start func(*exec.Cmd) error) (Probe, error) {
	if spec.Exec == nil || spec.Exec.Command.IsZero() {
		return nil, errors.New("exec check: no command")
	}
	p := &execProbe{args: spec.Exec.Command.Args(), start: start}
	if spec.Exec.Command.Shell != "" {
		// sh -c takes the first argument after the script as $0; give it
		// a name so the address and port arrive as $1 and $2.
		p.args = append(p.args, "hakeeper-check")
	}
	if name := cmp.Or(spec.Exec.User, spec.User); name != "" {
		u, err := proc.LookupUser(name)
		if err != nil {
			return nil, fmt.Errorf("exec check: %v", err)
		}
		p.user = u
	}
	return p.run, nil
}

func (p *execProbe) run(ctx context.Context, t Target) Result {
	args := append(append([]string(nil), p.args...), t.Address.String(), strconv.Itoa(int(t.Port)))
	var out tailBuffer
	began := time.Now()
	st, err := proc.Run(ctx, proc.Cmd{Argv: args, User: p.user, Output: &out, Start: p.start})
	lat := time.Since(began)
	if err == nil && st.Success() {
		return Result{Latency: lat}
	}
	var killed *proc.KilledError
	if errors.As(err, &killed) {
		return Result{Err: err, Latency: lat}
	}
	// A failed start says why; a failed command gives its exit status
	// and the end of its output.
	msg := st.String()
	if err != nil {
		msg = err.Error()
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
