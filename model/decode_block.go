package model

import (
	"bytes"
	"strings"

	"gopkg.in/yaml.v3"
)

// parseBlockYAML parses the block-style subset of YAML that descriptions
// nearly always are (indented mappings and lists of one-line plain or
// simply quoted scalars, comments) into the node tree yaml.v3 would build
// from it, about ten times faster: yaml.v3's scanner, its event parser and
// its resolution of every plain scalar (a failed integer parse and a float
// regular expression for each address) were most of the time spent on a
// large description. The trees are the same in kind, tag, style, value,
// line and column; comments are not kept (the decoder never reads them).
//
// It reports ok=false for anything outside the subset (flow collections,
// anchors, aliases, tags, block scalars, multi-line or escaped scalars,
// document markers, tabs, non-ASCII text, anything malformed) and the
// caller parses the file with yaml.v3 instead, so every syntax error and
// every unusual construct is yaml.v3's: this parser never reports one.
//
// With an arena, the tree is built in memory of the arena's previous
// tree, which must no longer be used; without, in new memory.
func parseBlockYAML(data []byte, arena *blockArena) (doc *yaml.Node, ok bool) {
	if arena == nil {
		arena = &blockArena{}
	}
	arena.reset()
	p := &blockParser{arena: arena}
	if !p.splitLines(data) || len(p.lines) == 0 {
		return nil, false
	}
	first := p.lines[0]
	root, ok := p.block(first.indent)
	if !ok || p.next != len(p.lines) {
		return nil, false
	}
	doc = p.node(yaml.DocumentNode, "", "", root.Line, root.Column)
	doc.Content = []*yaml.Node{root}
	return doc, true
}

// blockLine is one line with content: its number, the column of its first
// character (0-based) and its text from there, trailing spaces removed.
type blockLine struct {
	num    int
	indent int
	text   string
}

type blockParser struct {
	lines []blockLine
	next  int // the line to parse next
	depth int

	arena *blockArena
	// The arena's blocks being filled.
	nodes []yaml.Node
	ptrs  []*yaml.Node
	// kids holds the children of the collections being parsed, innermost
	// last.
	kids []*yaml.Node
}

// blockArena holds the memory of a node tree: nodes and Content slices
// cut from shared blocks (one allocation per node was a good part of
// parsing), and the line table. A goroutine decoding files one after
// another keeps one: a file's tree is dropped once the file is decoded,
// and the next file's tree is built in the same memory instead of
// leaving tens of megabytes of pointer-dense garbage per description.
type blockArena struct {
	nodes [][]yaml.Node
	ptrs  [][]*yaml.Node
	// Blocks handed out since reset.
	usedNodes, usedPtrs int
	lines               []blockLine
}

const (
	nodeBlockSize = 1024
	ptrBlockSize  = 4096
)

func (a *blockArena) reset() { a.usedNodes, a.usedPtrs = 0, 0 }

// nodeBlock returns an empty block of nodes to fill.
func (a *blockArena) nodeBlock() []yaml.Node {
	if a.usedNodes == len(a.nodes) {
		a.nodes = append(a.nodes, make([]yaml.Node, 0, nodeBlockSize))
	}
	a.usedNodes++
	return a.nodes[a.usedNodes-1][:0]
}

// ptrBlock returns an empty block of at least n node pointers.
func (a *blockArena) ptrBlock(n int) []*yaml.Node {
	if n > ptrBlockSize {
		return make([]*yaml.Node, 0, n)
	}
	if a.usedPtrs == len(a.ptrs) {
		a.ptrs = append(a.ptrs, make([]*yaml.Node, 0, ptrBlockSize))
	}
	a.usedPtrs++
	return a.ptrs[a.usedPtrs-1][:0]
}

// maxBlockDepth bounds nesting well below yaml.v3's own limit (10,000),
// whose error this parser leaves to yaml.v3.
const maxBlockDepth = 1000

// maxSimpleKey is yaml.v3's limit on a key's length (it looks for the ':'
// only so far); longer keys are left to it.
const maxSimpleKey = 1000

// splitLines records the lines with content. Text is copied once into
// one string that every value is cut from.
func (p *blockParser) splitLines(data []byte) bool {
	if n := bytes.Count(data, []byte{'\n'}) + 1; cap(p.arena.lines) < n {
		p.arena.lines = make([]blockLine, 0, n)
	}
	p.lines = p.arena.lines[:0]
	src := string(data)
	num := 0
	for len(src) > 0 {
		num++
		end := strings.IndexByte(src, '\n')
		var line string
		if end < 0 {
			line, src = src, ""
		} else {
			line, src = src[:end], src[end+1:]
		}
		indent := 0
		for indent < len(line) && line[indent] == ' ' {
			indent++
		}
		for i := indent; i < len(line); i++ {
			// Tabs, carriage returns, control characters and non-ASCII
			// text: yaml.v3 has rules for each (and columns count runes).
			if c := line[i]; c < 0x20 || c > 0x7e {
				return false
			}
		}
		text := strings.TrimRight(line[indent:], " ")
		if text == "" || text[0] == '#' {
			continue
		}
		if indent == 0 && (strings.HasPrefix(text, "---") || strings.HasPrefix(text, "...")) {
			return false // document markers
		}
		p.lines = append(p.lines, blockLine{num: num, indent: indent, text: text})
	}
	return true
}

func (p *blockParser) node(kind yaml.Kind, tag, value string, line, column int) *yaml.Node {
	if len(p.nodes) == cap(p.nodes) {
		p.nodes = p.arena.nodeBlock()
	}
	p.nodes = p.nodes[:len(p.nodes)+1]
	n := &p.nodes[len(p.nodes)-1]
	// Every field: the block may hold a node of an earlier tree.
	*n = yaml.Node{Kind: kind, Tag: tag, Value: value, Line: line, Column: column}
	return n
}

// content returns the children collected since mark as a Content slice
// and drops them from kids.
func (p *blockParser) content(mark int) []*yaml.Node {
	kids := p.kids[mark:]
	if len(kids) > cap(p.ptrs)-len(p.ptrs) {
		p.ptrs = p.arena.ptrBlock(len(kids))
	}
	start := len(p.ptrs)
	p.ptrs = append(p.ptrs, kids...)
	p.kids = p.kids[:mark]
	return p.ptrs[start:len(p.ptrs):len(p.ptrs)]
}

func isBlockEntry(text string) bool {
	return text == "-" || strings.HasPrefix(text, "- ")
}

// block parses the mapping or list whose first line is the next one, at
// column indent.
func (p *blockParser) block(indent int) (*yaml.Node, bool) {
	if p.depth++; p.depth > maxBlockDepth {
		return nil, false
	}
	defer func() { p.depth-- }()
	if isBlockEntry(p.lines[p.next].text) {
		return p.sequence(indent)
	}
	return p.mapping(indent)
}

// sequence parses the entries ("- ...") at column indent. A line that is
// not one ends it; whoever holds the sequence accepts that line or
// gives up.
func (p *blockParser) sequence(indent int) (*yaml.Node, bool) {
	first := p.lines[p.next]
	seq := p.node(yaml.SequenceNode, "!!seq", "", first.num, indent+1)
	mark := len(p.kids)
	for p.next < len(p.lines) {
		l := p.lines[p.next]
		if l.indent != indent || !isBlockEntry(l.text) {
			break
		}
		rest := strings.TrimLeft(l.text[1:], " ")
		var entry *yaml.Node
		var ok bool
		if rest == "" || rest[0] == '#' {
			p.next++
			entry, ok = p.nested(indent, false, l.num, indent+2)
		} else {
			// "- name: web": the rest of the line is parsed as if it
			// were a line of its own starting at its column.
			col := indent + len(l.text) - len(rest)
			p.lines[p.next] = blockLine{num: l.num, indent: col, text: rest}
			entry, ok = p.inline(col)
		}
		if !ok {
			return nil, false
		}
		p.kids = append(p.kids, entry)
	}
	seq.Content = p.content(mark)
	return seq, true
}

// inline parses what follows "- " on a line: a scalar, or the first line
// of a mapping or list continued below at the same column.
func (p *blockParser) inline(col int) (*yaml.Node, bool) {
	l := p.lines[p.next]
	if isBlockEntry(l.text) {
		return p.block(col)
	}
	if _, _, isKey := splitKey(l.text); isKey {
		return p.block(col)
	}
	p.next++
	return p.scalar(l.text, l.num, col+1)
}

// mapping parses the "key: value" lines at column indent.
func (p *blockParser) mapping(indent int) (*yaml.Node, bool) {
	first := p.lines[p.next]
	m := p.node(yaml.MappingNode, "!!map", "", first.num, indent+1)
	mark := len(p.kids)
	for p.next < len(p.lines) {
		l := p.lines[p.next]
		if l.indent != indent {
			break
		}
		key, rest, isKey := splitKey(l.text)
		if !isKey {
			if isBlockEntry(l.text) {
				break
			}
			return nil, false // a scalar line: a multi-line scalar or an error
		}
		if !plainKey(key) {
			return nil, false
		}
		keyNode := p.node(yaml.ScalarNode, resolvePlain(key), key, l.num, indent+1)
		p.next++
		value := strings.TrimLeft(rest, " ")
		var val *yaml.Node
		var ok bool
		if value == "" || value[0] == '#' && len(value) < len(rest) {
			colon := indent + len(key)
			val, ok = p.nested(indent, true, l.num, colon+2)
		} else {
			val, ok = p.scalar(value, l.num, indent+len(l.text)-len(value)+1)
		}
		if !ok {
			return nil, false
		}
		p.kids = append(p.kids, keyNode, val)
	}
	m.Content = p.content(mark)
	return m, true
}

// nested parses the value of a key or entry written on the lines below
// it: a block indented further (or, for a key, a list at the key's own
// column), else null at line:column, where yaml.v3 places it (just after
// the ':' or '-').
func (p *blockParser) nested(indent int, key bool, line, column int) (*yaml.Node, bool) {
	if p.next < len(p.lines) {
		l := p.lines[p.next]
		if l.indent > indent {
			return p.block(l.indent)
		}
		if key && l.indent == indent && isBlockEntry(l.text) {
			if p.depth++; p.depth > maxBlockDepth {
				return nil, false
			}
			defer func() { p.depth-- }()
			return p.sequence(indent)
		}
	}
	return p.node(yaml.ScalarNode, "!!null", "", line, column), true
}

// splitKey splits "key: value" (or "key:") at the first ':' followed by
// a space or the end of the line.
func splitKey(text string) (key, rest string, ok bool) {
	for i := 0; i < len(text); i++ {
		if text[i] != ':' {
			continue
		}
		if i+1 == len(text) {
			return text[:i], "", true
		}
		if text[i+1] == ' ' {
			return text[:i], text[i+1:], true
		}
	}
	return "", "", false
}

// plainStart reports whether s may start a plain scalar here: no
// indicator that begins another construct (or, for '-', '?' and ':',
// might), no merge key.
func plainStart(s string) bool {
	if s == "" {
		return false
	}
	switch s[0] {
	case '-':
		return len(s) > 1 && ('0' <= s[1] && s[1] <= '9' || s[1] == '.')
	case '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`':
		return false
	}
	return !strings.HasPrefix(s, "<<")
}

func plainKey(key string) bool {
	return plainStart(key) && len(key) <= maxSimpleKey &&
		!strings.HasSuffix(key, " ") && !strings.Contains(key, " #")
}

// scalar parses a one-line value starting at column col (1-based): a
// scalar or a flow list of plain scalars.
func (p *blockParser) scalar(text string, line, col int) (*yaml.Node, bool) {
	switch q := text[0]; q {
	case '[', '{':
		return p.flow(text, line, col)
	case '"', '\'':
		end := strings.IndexByte(text[1:], q) + 1
		if end == 0 || q == '"' && strings.IndexByte(text[:end], '\\') >= 0 {
			return nil, false // unclosed on this line, or escapes
		}
		after := text[end+1:]
		if q == '\'' && strings.HasPrefix(after, "'") {
			return nil, false // '' inside single quotes
		}
		if !onlyComment(after) {
			return nil, false
		}
		n := p.node(yaml.ScalarNode, "!!str", text[1:end], line, col)
		n.Style = yaml.DoubleQuotedStyle
		if q == '\'' {
			n.Style = yaml.SingleQuotedStyle
		}
		return n, true
	}
	if !plainStart(text) {
		return nil, false
	}
	if i := strings.Index(text, " #"); i >= 0 {
		text = strings.TrimRight(text[:i], " ")
	}
	if strings.Contains(text, ": ") || strings.HasSuffix(text, ":") {
		return nil, false
	}
	return p.node(yaml.ScalarNode, resolvePlain(text), text, line, col), true
}

// resolvePlain returns the tag yaml.v3 resolves a plain scalar to. The
// common cases are answered here: a word (no resolvable first
// character), a decimal integer, and anything with two dots that is not
// a date (an IPv4 address: neither an integer nor a float). Everything
// else is resolved by yaml.v3 itself through ShortTag.
func resolvePlain(s string) string {
	switch c := s[0]; {
	case c == '+' || c == '-' || c == '.' || c == '~' || '0' <= c && c <= '9' ||
		strings.IndexByte("yYnNtTfFoO", c) >= 0:
	default:
		return "!!str"
	}
	if decimal(s) {
		return "!!int"
	}
	if strings.Count(s, ".") >= 2 && !(len(s) >= 5 && digits(s[:4]) && s[4] == '-') {
		return "!!str"
	}
	n := yaml.Node{Kind: yaml.ScalarNode, Value: s}
	return n.ShortTag()
}

// decimal reports whether s is a decimal integer of at most 18 digits
// without a leading zero (which always fits in an int64).
func decimal(s string) bool {
	return s != "" && len(s) <= 18 && (s[0] != '0' || len(s) == 1) && digits(s)
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// onlyComment reports whether what follows a value on its line is
// nothing or a comment.
func onlyComment(after string) bool {
	trimmed := strings.TrimLeft(after, " ")
	return trimmed == "" || trimmed[0] == '#' && len(trimmed) < len(after)
}

// flow parses a one-line flow list of plain scalars ("[a, b]", "[]") or
// an empty flow mapping ("{}"), starting at column col (1-based).
func (p *blockParser) flow(text string, line, col int) (*yaml.Node, bool) {
	closing := byte(']')
	if text[0] == '{' {
		closing = '}'
	}
	end := strings.IndexByte(text, closing)
	if end < 0 || !onlyComment(text[end+1:]) {
		return nil, false
	}
	inner := text[1:end]
	if text[0] == '{' {
		if inner != "" {
			return nil, false
		}
		m := p.node(yaml.MappingNode, "!!map", "", line, col)
		m.Style = yaml.FlowStyle
		return m, true
	}
	// Quotes, nesting, comments, keys, anchors and the like are left to
	// yaml.v3; so is ':' (IPv6 addresses: flow context has its own rules).
	if strings.ContainsAny(inner, "[]{}#:\"'&*!|>%@`?") {
		return nil, false
	}
	seq := p.node(yaml.SequenceNode, "!!seq", "", line, col)
	seq.Style = yaml.FlowStyle
	if strings.TrimLeft(inner, " ") == "" {
		return seq, true
	}
	mark := len(p.kids)
	offset := 1 // of the current element's text from the '['
	for {
		elem, rest, more := strings.Cut(inner, ",")
		value := strings.TrimLeft(elem, " ")
		start := offset + len(elem) - len(value)
		value = strings.TrimRight(value, " ")
		if !plainStart(value) {
			// An empty element ("[a,,b]", "[a,]") or an indicator.
			p.kids = p.kids[:mark]
			return nil, false
		}
		p.kids = append(p.kids, p.node(yaml.ScalarNode, resolvePlain(value), value, line, col+start))
		if !more {
			break
		}
		inner, offset = rest, offset+len(elem)+1
	}
	seq.Content = p.content(mark)
	return seq, true
}
