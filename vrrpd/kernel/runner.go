package kernel

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hakeeper/hakeeper/lvs/check/proc"
	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/vrrpd"
)

// Runner runs notify hooks and tracked checks as processes.
type Runner struct{}

var _ vrrpd.Runner = Runner{}

// Run executes cmd with args appended and returns its exit status. The
// exec form gets args as extra argv entries; the shell form gets them
// appended to the script, single-quoted, as keepalived appends them to
// its command line. The process runs as proc runs every hook and check
// (minimal environment, in "/", as username when set, in its own
// process group, which is killed when ctx ends; then Run returns an
// error). A process killed by a signal reports 128+signal, like a shell.
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
	// StartNormal: a daemon running real-time must not pass its policy on.
	c := proc.Cmd{Argv: argv, Start: StartNormal}
	if username != "" {
		u, err := proc.LookupUser(username)
		if err != nil {
			return 0, fmt.Errorf("script %w", err)
		}
		c.User = u
	}
	p, err := proc.Start(ctx, c)
	if err != nil {
		return 0, fmt.Errorf("start %s: %w", cmd, err)
	}
	st, err := p.Wait()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", cmd, err)
	}
	return st.ExitCode(), nil
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
