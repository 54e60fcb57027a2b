package model

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written as a Go duration string ("1s", "100ms").
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// IsZero reports a zero duration (JSON's omitzero asks).
func (d Duration) IsZero() bool { return d == 0 }

// MarshalYAML writes the compact Go duration string an operator would
// type ("5m", "1h30m", "100ms"), not time.Duration's "5m0s".
func (d Duration) MarshalYAML() (any, error) { return compactDuration(time.Duration(d)), nil }

// compactDuration is d.String() without the zero units it ends with;
// time.ParseDuration reads it back to d.
func compactDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
		if strings.HasSuffix(s, "h0m") {
			s = strings.TrimSuffix(s, "0m")
		}
	}
	return s
}

// UnmarshalYAML accepts a Go duration string. A bare number is rejected:
// "1" could mean seconds (keepalived) or nanoseconds (Go).
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" && n.Tag != "!!int" && n.Tag != "!!float" {
		return fmt.Errorf("want a duration such as 1s or 100ms")
	}
	return d.parse(n.Value)
}

func (d *Duration) parse(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration (write e.g. 1s or 100ms)", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the compact Go duration string, as MarshalYAML.
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(`"` + compactDuration(time.Duration(d)) + `"`), nil
}

// UnmarshalJSON accepts a Go duration string or a number of nanoseconds.
// Unlike in YAML a bare number is not ambiguous here: JSON is written by
// programs, and hakeeper's earlier releases wrote time.Duration so.
func (d *Duration) UnmarshalJSON(b []byte) error {
	s := string(b)
	switch {
	case s == "null":
		return nil
	case strings.HasPrefix(s, `"`):
		var text string
		if err := json.Unmarshal(b, &text); err != nil {
			return err
		}
		return d.parse(text)
	}
	ns, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("want a duration such as \"1s\" or a whole number of nanoseconds, got %s", s)
	}
	*d = Duration(ns)
	return nil
}

// StatusCodes are the HTTP status codes a check accepts: single codes and
// inclusive ranges. YAML and JSON write a code as an integer and a range as
// a "LO-HI" string, in one list: status: [200, 301-302]. A plain scalar
// 200-299 is a YAML string, so no quotes are needed.
type StatusCodes []StatusRange

// StatusRange is an inclusive range of HTTP status codes; a single code
// has First == Last.
type StatusRange struct{ First, Last int }

// StatusCode is the range holding only code.
func StatusCode(code int) StatusRange { return StatusRange{code, code} }

// Contains reports whether code is in one of the ranges.
func (s StatusCodes) Contains(code int) bool {
	for _, r := range s {
		if r.First <= code && code <= r.Last {
			return true
		}
	}
	return false
}

// Normalize returns the ranges sorted, with overlapping and adjacent ones
// merged ([204, 200-203] → [200-204]), so two lists accepting the same
// codes are equal. Backwards ranges (First > Last) accept nothing and are
// dropped; Validate reports them.
func (s StatusCodes) Normalize() StatusCodes {
	out := make(StatusCodes, 0, len(s))
	for _, r := range s {
		if r.First <= r.Last {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b StatusRange) int { return cmp.Compare(a.First, b.First) })
	merged := out[:0]
	for _, r := range out {
		if n := len(merged); n > 0 && r.First <= merged[n-1].Last+1 {
			merged[n-1].Last = max(merged[n-1].Last, r.Last)
			continue
		}
		merged = append(merged, r)
	}
	return merged
}

// String joins the ranges with commas: "200,301-302".
func (s StatusCodes) String() string {
	parts := make([]string, len(s))
	for i, r := range s {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}

// String is "200" for a single code and "200-299" for a range.
func (r StatusRange) String() string {
	if r.Last == r.First {
		return strconv.Itoa(r.First)
	}
	return strconv.Itoa(r.First) + "-" + strconv.Itoa(r.Last)
}

// ParseStatusRange reads "200" or "200-299" (spaces around the dash
// allowed). It checks the syntax only: Validate checks the codes.
func ParseStatusRange(s string) (StatusRange, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	first, ok1 := parseCode(lo)
	last, ok2 := first, true
	if isRange {
		last, ok2 = parseCode(hi)
	}
	if !ok1 || !ok2 {
		return StatusRange{}, fmt.Errorf("%q is not a status code or range (write e.g. 200 or 200-299)", s)
	}
	return StatusRange{first, last}, nil
}

// parseCode reads decimal digits between spaces or tabs: no sign, no
// other base (the schema's pattern says the same).
func parseCode(s string) (int, bool) {
	s = strings.Trim(s, " \t")
	if s == "" || len(s) > 9 || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// UnmarshalYAML accepts an integer code or a "LO-HI" string.
func (r *StatusRange) UnmarshalYAML(n *yaml.Node) error {
	if err := leadingZero(n); err != nil {
		return err
	}
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case "!!int":
			code, err := parseInt(n)
			if err != nil || code < math.MinInt32 || code > math.MaxInt32 {
				return fmt.Errorf("status code %s is out of range 100-599", n.Value)
			}
			*r = StatusCode(int(code))
			return nil
		case "!!str":
			var err error
			*r, err = ParseStatusRange(n.Value)
			return err
		}
	}
	return fmt.Errorf("want a status code (200) or a range (200-299), got %s", describe(n))
}

// MarshalYAML writes the list on one line, as an operator would:
// [200, 301-302], a single code as an integer and a range as "LO-HI".
func (s StatusCodes) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, r := range s {
		e := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: r.String()}
		if r.First == r.Last {
			e.Tag = "!!int"
		}
		n.Content = append(n.Content, e)
	}
	return n, nil
}

// MarshalJSON writes a single code as a number and a range as "LO-HI",
// like the YAML.
func (r StatusRange) MarshalJSON() ([]byte, error) {
	if r.First == r.Last {
		return strconv.AppendInt(nil, int64(r.First), 10), nil
	}
	return strconv.AppendQuote(nil, r.String()), nil
}

// UnmarshalJSON accepts a number or a "LO-HI" string.
func (r *StatusRange) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case float64:
		if v != math.Trunc(v) || math.Abs(v) > math.MaxInt32 {
			return fmt.Errorf("status code %v is not an integer", v)
		}
		*r = StatusCode(int(v))
		return nil
	case string:
		var err error
		*r, err = ParseStatusRange(v)
		return err
	}
	return fmt.Errorf("want a status code or a range, got %s", b)
}

// Command is a program to run. In YAML a string is run by /bin/sh -c
// (shell form); a list is executed directly (exec form), like a Dockerfile's CMD.
type Command struct {
	Shell string   `json:"shell,omitempty"`
	Argv  []string `json:"argv,omitempty"`
}

// IsZero reports an unset command.
func (c Command) IsZero() bool { return c.Shell == "" && len(c.Argv) == 0 }

// Args returns the argv to execute.
func (c Command) Args() []string {
	if c.Shell != "" {
		return []string{"/bin/sh", "-c", c.Shell}
	}
	return append([]string(nil), c.Argv...)
}

func (c Command) String() string {
	if c.Shell != "" {
		return c.Shell
	}
	return strings.Join(c.Argv, " ")
}

// MarshalYAML writes the shell form as a string and the exec form as a list.
func (c Command) MarshalYAML() (any, error) {
	if c.Shell != "" {
		return c.Shell, nil
	}
	return c.Argv, nil
}

// UnmarshalYAML accepts a string or a list of strings.
func (c *Command) UnmarshalYAML(n *yaml.Node) error {
	notScalar := func(e *yaml.Node) bool { return e.Kind != yaml.ScalarNode }
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!str":
		*c = Command{Shell: n.Value}
		return nil
	case n.Kind == yaml.SequenceNode && !slices.ContainsFunc(n.Content, notScalar):
		var argv []string
		for _, e := range n.Content {
			argv = append(argv, e.Value)
		}
		*c = Command{Argv: argv}
		return nil
	}
	return fmt.Errorf("want a command string or a list of strings")
}

// MarshalYAML writes a VIP with only an address as a plain string.
func (v VIP) MarshalYAML() (any, error) {
	if v.Device == "" && v.Label == "" {
		return v.Address, nil
	}
	type plain VIP
	return plain(v), nil
}

// Family is an address family.
type Family string

const (
	IPv4 Family = "ipv4"
	IPv6 Family = "ipv6"
)

// Protocol is a virtual service's transport protocol.
type Protocol string

const (
	TCP  Protocol = "tcp"
	UDP  Protocol = "udp"
	SCTP Protocol = "sctp"
)

// Forwarding is the LVS forwarding method.
type Forwarding string

const (
	NAT    Forwarding = "nat"
	DR     Forwarding = "dr"
	Tunnel Forwarding = "tun"
)

// Schedulers are the IPVS schedulers hakeeper accepts.
var Schedulers = []string{"rr", "wrr", "lc", "wlc", "sh", "mh", "dh", "sed", "nq"}

// SchedulerFlags are the flags each flag-taking scheduler accepts.
var SchedulerFlags = map[string][]string{
	"sh": {"sh-fallback", "sh-port"},
	"mh": {"mh-fallback", "mh-port"},
}

// Pos is a place in a source file. Line and Column are 1-based.
type Pos struct {
	File   string
	Line   int
	Column int
}

func (p Pos) String() string {
	switch {
	case p.File == "" && p.Line == 0:
		return ""
	case p.Line == 0:
		return p.File
	case p.Column == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
}

// Error is one problem in a cluster description.
type Error struct {
	Pos  Pos
	Path string // field path, e.g. vipGroups.web.vrid
	Msg  string
}

func (e *Error) Error() string {
	s := e.Msg
	if e.Path != "" {
		s = e.Path + ": " + s
	}
	if p := e.Pos.String(); p != "" {
		s = p + ": " + s
	}
	return s
}

// ErrorList is every problem found, sorted by file, line and column.
type ErrorList []*Error

func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Sort orders the list by place, then path, then message.
func (l ErrorList) Sort() {
	slices.SortStableFunc(l, func(a, b *Error) int {
		return cmp.Or(
			cmp.Compare(a.Pos.File, b.Pos.File),
			cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Pos.Column, b.Pos.Column),
			cmp.Compare(a.Path, b.Path),
			cmp.Compare(a.Msg, b.Msg),
		)
	})
}

// Err returns nil for an empty list, so callers can `return l.Err()`.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// File is one source file of a cluster description: its name as it should
// appear in error messages, and its bytes.
type File struct {
	Name string
	Data []byte
}
