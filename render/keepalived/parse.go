// Package keepalived owns the migration path between keepalived and
// hakeeper: a keepalived.conf parser that keeps file:line for every
// keyword, the importer that merges several nodes' keepalived.conf files
// into one cluster description (with warnings for everything it cannot
// map or that differs between nodes), and the renderer that writes the
// keepalived.conf a node would need to do what hakeeper does on it.
//
// Import writes keepalived's own defaults explicitly where hakeeper's
// differ (VRRP version 2, vrrp_script interval 1s, delay_loop 60s,
// connect_timeout 5s, DNS_CHECK retry 3, SSL_GET without certificate
// verification, servers without a checker are unchecked). Script strings
// become commands in exec form (keepalived never uses a shell) unless a
// shell would run them identically.
//
// Render followed by Import gives every node the same desired state,
// except for what keepalived.conf cannot carry: the secret's location
// (auth_pass is a placeholder unless rendered with secrets), notify
// timeouts, real-server check rise/fall, HTTP body substrings, HTTPS
// certificate verification and SNI names, and UDP reply matching beyond
// require_reply. Render marks each of these with a "# hakeeper:" comment.
// Service names survive as a comment on the virtual_server line
// ("# NAME", "# NAME group GROUP" for fwmark services tied to a group).
package keepalived

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hakeeper/hakeeper/model"
)

// Stmt is one keyword line of keepalived.conf with its arguments and, for
// block keywords, the statements inside its braces.
type Stmt struct {
	Pos     model.Pos
	Keyword string
	Args    []string
	// Block is non-nil when the keyword opened a { } block (possibly empty).
	Block []*Stmt
	// Comment is the text of a comment on the keyword's own line, without
	// the comment character (the importer names services after it).
	Comment string
}

// maxIncludeDepth stops include cycles (keepalived itself has no limit
// and loops).
const maxIncludeDepth = 16

// parseFile parses a keepalived.conf and the files it includes. Include
// patterns are globs resolved relative to the including file's directory,
// as keepalived does. Positions name files as given (path, or the
// include's directory joined with the matched name).
func parseFile(path string) ([]*Stmt, error) {
	return newParser().file(path, 0, model.Pos{})
}

// maxFiles bounds the files one parse reads: each level of includes of a
// file that includes itself twice doubles them.
const maxFiles = 1000

type parser struct {
	read func(string) ([]byte, error)
	glob func(string) ([]string, error)
	// files counts the files read so far.
	files int
}

func newParser() *parser {
	return &parser{read: os.ReadFile, glob: filepath.Glob}
}

func (p *parser) file(path string, depth int, from model.Pos) ([]*Stmt, error) {
	p.files++
	if p.files > maxFiles {
		return nil, fmt.Errorf("%s: include %s: more than %d files included (include cycle?)", from, path, maxFiles)
	}
	data, err := p.read(path)
	if err != nil {
		if from.File != "" {
			// The include names the path already: say only what went wrong.
			if pe, ok := err.(*os.PathError); ok {
				err = pe.Err
			}
			return nil, fmt.Errorf("%s: include %s: %w", from, path, err)
		}
		return nil, err
	}
	return p.parse(path, data, depth)
}

// token is one word, quoted string or brace.
type token struct {
	text   string
	line   int
	quoted bool
	// eol marks the last token of a physical line (after continuations).
	eol bool
}

func (t token) isBrace(b string) bool { return !t.quoted && t.text == b }

// lex splits text into tokens. Comments start with ! or # outside quotes
// and run to the end of the line; a backslash at the end of a line joins
// the next one; { and } are tokens even when glued to a word.
func lex(name string, data []byte) ([]token, map[int]string, error) {
	var toks []token
	comments := map[int]string{}
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		lineNo := i + 1
		line := strings.TrimRight(lines[i], "\r")
		// Line continuation: keepalived joins a line ending in a backslash.
		for strings.HasSuffix(line, "\\") && i+1 < len(lines) {
			i++
			line = line[:len(line)-1] + " " + strings.TrimRight(lines[i], "\r")
		}
		start := len(toks)
		j := 0
		for j < len(line) {
			c := line[j]
			switch {
			case c == ' ' || c == '\t':
				j++
			case c == '!' || c == '#':
				comments[lineNo] = strings.TrimSpace(line[j+1:])
				j = len(line)
			case c == '{' || c == '}':
				toks = append(toks, token{text: string(c), line: lineNo})
				j++
			case c == '"':
				var b strings.Builder
				k := j + 1
				for ; k < len(line) && line[k] != '"'; k++ {
					if line[k] == '\\' && k+1 < len(line) && (line[k+1] == '"' || line[k+1] == '\\') {
						k++ // an escaped quote or backslash
					}
					b.WriteByte(line[k])
				}
				if k == len(line) {
					return nil, nil, fmt.Errorf("%s:%d: unterminated quoted string", name, lineNo)
				}
				toks = append(toks, token{text: b.String(), line: lineNo, quoted: true})
				j = k + 1
			default:
				k := j
				for k < len(line) && !strings.ContainsRune(" \t{}\"!#", rune(line[k])) {
					k++
				}
				toks = append(toks, token{text: line[j:k], line: lineNo})
				j = k
			}
		}
		if len(toks) > start {
			toks[len(toks)-1].eol = true
		}
	}
	return toks, comments, nil
}

func (p *parser) parse(name string, data []byte, depth int) ([]*Stmt, error) {
	toks, comments, err := lex(name, data)
	if err != nil {
		return nil, err
	}
	type frame struct {
		owner *Stmt
		stmts []*Stmt
	}
	stack := []*frame{{}}
	top := func() *frame { return stack[len(stack)-1] }
	var cur *Stmt // statement being collected on the current line
	finish := func() error {
		if cur == nil {
			return nil
		}
		s := cur
		cur = nil
		if s.Keyword == "include" && s.Block == nil {
			inc, err := p.include(name, s, depth)
			if err != nil {
				return err
			}
			top().stmts = append(top().stmts, inc...)
			return nil
		}
		top().stmts = append(top().stmts, s)
		return nil
	}
	for _, t := range toks {
		switch {
		case t.isBrace("{"):
			owner := cur
			if owner == nil {
				// "{" alone on a line opens the block of the previous
				// keyword (Allman style), if it has none yet.
				f := top()
				if n := len(f.stmts); n > 0 && f.stmts[n-1].Block == nil && f.stmts[n-1].Keyword != "include" {
					owner = f.stmts[n-1]
					f.stmts = f.stmts[:n-1]
				} else {
					return nil, fmt.Errorf("%s:%d: '{' without a keyword before it", name, t.line)
				}
			}
			cur = nil
			// An empty block is still a block: Block is non-nil.
			stack = append(stack, &frame{owner: owner, stmts: []*Stmt{}})
		case t.isBrace("}"):
			if err := finish(); err != nil {
				return nil, err
			}
			if len(stack) == 1 {
				return nil, fmt.Errorf("%s:%d: unexpected '}'", name, t.line)
			}
			f := top()
			stack = stack[:len(stack)-1]
			f.owner.Block = f.stmts
			top().stmts = append(top().stmts, f.owner)
		default:
			if cur == nil {
				cur = &Stmt{Pos: model.Pos{File: name, Line: t.line}, Keyword: t.text, Comment: comments[t.line]}
			} else {
				cur.Args = append(cur.Args, t.text)
			}
		}
		if t.eol {
			if err := finish(); err != nil {
				return nil, err
			}
		}
	}
	if err := finish(); err != nil {
		return nil, err
	}
	if len(stack) > 1 {
		o := top().owner
		return nil, fmt.Errorf("%s:%d: block %q is never closed (missing '}')", name, o.Pos.Line, o.Keyword)
	}
	return stack[0].stmts, nil
}

// include resolves an include statement: a glob relative to the including
// file's directory. A literal path that does not exist is an error; a glob
// matching nothing includes nothing (conf.d/*.conf of an empty directory).
func (p *parser) include(name string, s *Stmt, depth int) ([]*Stmt, error) {
	if len(s.Args) != 1 {
		return nil, fmt.Errorf("%s: include wants exactly one file name or pattern", s.Pos)
	}
	if depth >= maxIncludeDepth {
		return nil, fmt.Errorf("%s: includes nested more than %d deep (include cycle?)", s.Pos, maxIncludeDepth)
	}
	pattern := s.Args[0]
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(filepath.Dir(name), pattern)
	}
	matches, err := p.glob(pattern)
	if err != nil {
		return nil, fmt.Errorf("%s: include %s: %v", s.Pos, s.Args[0], err)
	}
	if len(matches) == 0 {
		if !strings.ContainsAny(pattern, "*?[") {
			return nil, fmt.Errorf("%s: include %s: file not found", s.Pos, pattern)
		}
		return nil, nil
	}
	var out []*Stmt
	for _, m := range matches {
		st, err := p.file(m, depth+1, s.Pos)
		if err != nil {
			return nil, err
		}
		out = append(out, st...)
	}
	return out, nil
}
