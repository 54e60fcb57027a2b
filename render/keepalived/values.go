package keepalived

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/hakeeper/hakeeper/model"
)

// Small value parsers shared by the importer. Each returns an error that
// names the statement's place and keyword.

func argErr(s *Stmt, format string, a ...any) error {
	return fmt.Errorf("%s: %s: %s", s.Pos, s.Keyword, fmt.Sprintf(format, a...))
}

func oneArg(s *Stmt) (string, error) {
	if len(s.Args) < 1 {
		return "", argErr(s, "missing value")
	}
	return s.Args[0], nil
}

func intArg(s *Stmt) (int, error) {
	v, err := oneArg(s)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, argErr(s, "%q is not a whole number", v)
	}
	return n, nil
}

func addrArg(s *Stmt) (netip.Addr, error) {
	v, err := oneArg(s)
	if err != nil {
		return netip.Addr{}, err
	}
	return parseAddr(s, v)
}

// parseAddr and parsePort read v, one of the arguments of s.
func parseAddr(s *Stmt, v string) (netip.Addr, error) {
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Addr{}, argErr(s, "%q is not an IP address", v)
	}
	return a, nil
}

func parsePort(s *Stmt, v string) (int, error) {
	p, err := strconv.Atoi(v)
	if err != nil || p < 1 || p > 65535 {
		return 0, argErr(s, "port %q is not 1..65535", v)
	}
	return p, nil
}

// secondsArg reads a keepalived timer: seconds, fractions allowed.
func secondsArg(s *Stmt) (model.Duration, error) {
	v, err := oneArg(s)
	if err != nil {
		return 0, err
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || f > 1e6 {
		return 0, argErr(s, "%q is not a number of seconds", v)
	}
	return model.Duration(time.Duration(math.Round(f*1e6)) * time.Microsecond), nil
}

// boolArg reads keepalived's optional boolean: no argument means true.
func boolArg(s *Stmt) (bool, error) {
	if len(s.Args) == 0 {
		return true, nil
	}
	switch strings.ToLower(s.Args[0]) {
	case "true", "on", "yes", "1":
		return true, nil
	case "false", "off", "no", "0":
		return false, nil
	}
	return false, argErr(s, "%q is not a boolean", s.Args[0])
}

// splitScript splits a keepalived script string into argv the way
// keepalived does: on blanks, with '...' and "..." grouping words.
func splitScript(s string) []string {
	var out []string
	var cur strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote = c
			inWord = true
		case c == ' ' || c == '\t':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out
}

// shellSafe reports whether a command line means the same run by
// /bin/sh -c as split on blanks and executed directly.
func shellSafe(s string) bool {
	return s != "" && !strings.ContainsAny(s, "|&;<>()$`\\\"'*?[]#~=%{}!\n")
}

// importCommand turns a keepalived script string into a Command: the
// plain string form when a shell would run it identically, the exec form
// (keepalived never uses a shell) otherwise.
func importCommand(script string) model.Command {
	script = strings.TrimSpace(script)
	if shellSafe(script) {
		return model.Command{Shell: strings.Join(strings.Fields(script), " ")}
	}
	return model.Command{Argv: splitScript(script)}
}

// scriptArg reads vrrp_script's script: quoted as one argument or as
// several unquoted words, which keepalived joins.
func scriptArg(s *Stmt) (model.Command, error) {
	if len(s.Args) == 0 {
		return model.Command{}, argErr(s, "missing script")
	}
	return importCommand(strings.Join(s.Args, " ")), nil
}
