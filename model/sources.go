package model

import (
	"fmt"
	"sort"
	"strings"
)

// File is one source file of a cluster description: its name as it should
// appear in error messages, and its bytes.
type File struct {
	Name string
	Data []byte
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

// Sources tells where field paths ("vipGroups.web.vrid",
// "vipGroups.web.vips[0]") were written. Decode records every path it
// decodes; "" is the file of the first top-level mapping.
type Sources struct {
	byPath map[string]Pos
}

// NewSources returns an empty table.
func NewSources() *Sources { return &Sources{byPath: map[string]Pos{}} }

// Set records where path was written.
func (s *Sources) Set(path string, p Pos) {
	if s.byPath == nil {
		s.byPath = map[string]Pos{}
	}
	s.byPath[path] = p
}

// setFirst records where path was written unless it already was: the
// first place wins (a section key may appear in every file, and a map
// key containing '.' or '[' can spell a path written elsewhere).
func (s *Sources) setFirst(path string, p Pos) {
	if _, ok := s.byPath[path]; !ok {
		s.byPath[path] = p
	}
}

// Lookup returns where path was written. A path not recorded falls back to
// its nearest recorded parent, so every error can name a place.
func (s *Sources) Lookup(path string) Pos {
	if s == nil {
		return Pos{}
	}
	for p := path; p != ""; p = parentPath(p) {
		if pos, ok := s.byPath[p]; ok {
			return pos
		}
	}
	return Pos{}
}

// written reports whether path was written in the source, even with an
// empty value (`master: ""` decodes to the same Command as no master).
func (s *Sources) written(path string) bool {
	if s == nil {
		return false
	}
	_, ok := s.byPath[path]
	return ok
}

// writtenEmptyCommand reports whether an empty command at path was
// written.
func (s *Sources) writtenEmptyCommand(path string) bool { return s.written(path) }

func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

// Error is one problem in a cluster description.
type Error struct {
	Pos  Pos
	Path string // field path, e.g. vipGroups.web.vrid
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	if s := e.Pos.String(); s != "" {
		b.WriteString(s)
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
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
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i], l[j]
		if a.Pos.File != b.Pos.File {
			return a.Pos.File < b.Pos.File
		}
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line < b.Pos.Line
		}
		if a.Pos.Column != b.Pos.Column {
			return a.Pos.Column < b.Pos.Column
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.Msg < b.Msg
	})
}

// Err returns nil for an empty list, so callers can `return l.Err()`.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}
