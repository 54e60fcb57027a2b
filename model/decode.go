package model

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
	"unsafe"

	"gopkg.in/yaml.v3"
)

// Limits that keep Decode fast and bounded on hostile input. A real cluster
// description is a few kilobytes; even thousands of services stay far below.
const (
	// MaxFileSize is the largest source file Decode accepts.
	MaxFileSize = 4 << 20
	// maxErrors stops collecting after this many problems per Decode, so a
	// huge broken file cannot produce a huge error list.
	maxErrors = 1000
	// decodeBudgetPerByte bounds the values decoded per byte of input:
	// aliases may repeat a subtree, but not exponentially (billion laughs).
	decodeBudgetPerByte = 4
	decodeBudgetBase    = 100000
)

// Decode parses the files of one cluster description strictly and merges
// them: unknown keys, wrong types, duplicate keys and entries defined in two
// files are errors. Every problem is returned, sorted by place. The cluster
// is returned even when there are errors (partially filled), with Sources
// recording where each field was written.
//
// Sources keeps a reference to files to find positions inside entries when
// an error needs them: do not modify the files' Data afterwards.
//
// An empty or comment-only file is an error when it is the only file with
// content: a description split over several files may contain empty ones
// (for example a placeholder for a team's services).
func Decode(files []File) (*Cluster, ErrorList) {
	d := decode(files, false)
	if d.ambiguous {
		// A key containing '.' or '[' lets two places spell one path, and
		// then the first one written wins: only a table of every path in
		// decoding order can say which that was.
		d = decode(files, true)
	}
	return d.cluster, d.errs
}

// decode decodes files, recording every path in Sources or (recordAll
// false) only the top level.
func decode(files []File, recordAll bool) *decoder {
	src := NewSources()
	if !recordAll {
		src.files = files
	}
	c := &Cluster{Sources: src}
	d := &decoder{cluster: c, src: src, recordAll: recordAll}
	if len(files) == 0 {
		d.errs = append(d.errs, &Error{Msg: "no files to decode"})
		return d
	}
	var empty []File
	if procs := runtime.GOMAXPROCS(0); !recordAll && procs > 1 && len(files) > 1 {
		// One goroutine more than cores: files take about as long each,
		// and with as many goroutines as cores the last of an odd number
		// would leave one core idle for a whole file. Three share two
		// cores evenly.
		empty = d.decodeParallel(files, min(procs+1, len(files)))
	} else {
		parsed := parseAhead(files)
		for i, f := range files {
			if d.decodeFile(i, f, parsed.wait(i)) {
				empty = append(empty, f)
			}
			parsed.done(i)
		}
	}
	if len(empty) == len(files) {
		for _, f := range empty {
			d.errs = append(d.errs, &Error{Pos: Pos{File: f.Name}, Msg: "empty file: a cluster description needs at least a nodes section"})
		}
	}
	if d.truncated {
		d.errs = append(d.errs, &Error{Msg: fmt.Sprintf("too many errors; stopped after %d", maxErrors)})
	}
	d.errs.Sort()
	return d
}

// parsedFile is one file's text check and YAML parse, which need nothing
// from the other files and so run ahead of decoding.
type parsedFile struct {
	// problem is set when the file is not decoded at all (too large, not
	// text, not YAML). A syntax error is reported even past maxErrors.
	problem *Error
	syntax  bool
	// doc is nil for a file without any document; extra is a second
	// document, which is an error.
	doc, extra *yaml.Node
}

// parsing hands out files parsed in the background, in order.
type parsing struct {
	files []parsedFile
	// ready[i] is closed when files[i] is set; nil when parsing inline.
	ready  []chan struct{}
	window chan struct{}

	// Parsing inline, each file when it is asked for, in the memory of
	// the one before.
	inline []File
	arena  blockArena
}

// parseAhead parses files on up to GOMAXPROCS goroutines while the caller
// decodes them one by one in order. Parsing (yaml.v3 building node trees)
// is most of the cost of a large description. Node trees are large, so
// only a few files are parsed but not yet decoded at any time.
func parseAhead(files []File) *parsing {
	p := &parsing{files: make([]parsedFile, len(files))}
	workers := min(runtime.GOMAXPROCS(0), len(files))
	if workers <= 1 {
		p.inline = files
		return p
	}
	// One more token than workers: the file being decoded holds one.
	p.window = make(chan struct{}, workers+1)
	p.ready = make([]chan struct{}, len(files))
	for i := range p.ready {
		p.ready[i] = make(chan struct{})
	}
	go func() {
		for i := range files {
			p.window <- struct{}{}
			go func() {
				p.files[i] = parseFile(files[i], nil)
				close(p.ready[i])
			}()
		}
	}()
	return p
}

// wait returns file i once it is parsed.
func (p *parsing) wait(i int) *parsedFile {
	switch {
	case p.ready != nil:
		<-p.ready[i]
	case p.inline != nil:
		p.files[i] = parseFile(p.inline[i], &p.arena)
	}
	return &p.files[i]
}

// done releases file i's node tree and lets the next file be parsed.
func (p *parsing) done(i int) {
	p.files[i] = parsedFile{}
	if p.window != nil {
		<-p.window
	}
}

// parseFile checks and parses one file. With an arena, its node tree is
// built in the arena's memory (see blockArena).
func parseFile(f File, arena *blockArena) parsedFile {
	if len(f.Data) > MaxFileSize {
		return parsedFile{problem: &Error{Pos: Pos{File: f.Name}, Msg: fmt.Sprintf("file is %d bytes; a cluster description file may be at most %d bytes", len(f.Data), MaxFileSize)}}
	}
	if pos, msg, ok := checkText(f.Data); !ok {
		pos.File = f.Name
		return parsedFile{problem: &Error{Pos: pos, Msg: msg}}
	}
	doc, extra, err := parseYAML(f.Data, arena)
	if err != nil {
		return parsedFile{problem: syntaxError(f.Name, f.Data, err), syntax: true}
	}
	return parsedFile{doc: doc, extra: extra}
}

// decoder decodes yaml.Node trees into the Cluster types by reflection,
// honouring yaml struct tags. It exists because yaml.v3's KnownFields does
// not reach through custom unmarshalers and reports no per-field positions.
type decoder struct {
	cluster   *Cluster
	src       *Sources
	errs      ErrorList
	truncated bool

	// recordAll records every path in src; otherwise only the top
	// level (see Sources).
	recordAll bool
	// skip holds the entries Decode refused as defined twice when a file
	// is decoded again for its positions (Sources.fileTable).
	skip map[string]bool

	// Per file.
	file      string
	fileIndex int
	budget    int
	// expanding holds the aliases being followed, to stop cycles (&a [*a]).
	expanding map[*yaml.Node]bool
	budgetHit bool

	// paths holds the text of every path recorded in Sources.
	paths pathArena

	// ambiguous is set once a map key containing '.' or '[' was decoded:
	// only such a key can make two places produce the same path, so until
	// then a path is recorded without first looking for an earlier one.
	ambiguous bool
}

// decodeFile decodes one parsed file into d.cluster. It reports whether
// the file held no document at all.
func (d *decoder) decodeFile(i int, f File, pf *parsedFile) (empty bool) {
	d.file = f.Name
	d.fileIndex = i
	d.budget = decodeBudgetBase + decodeBudgetPerByte*len(f.Data)
	d.expanding = map[*yaml.Node]bool{}
	d.budgetHit = false

	if pf.problem != nil {
		if len(d.errs) >= maxErrors && !pf.syntax {
			d.truncated = true
		} else {
			d.errs = append(d.errs, pf.problem)
		}
		return false
	}
	doc, extra := pf.doc, pf.extra
	if doc == nil {
		return true
	}
	if extra != nil {
		d.errorAt(Pos{File: f.Name, Line: extra.Line, Column: extra.Column}, "",
			"a second YAML document starts here; put one document per file (a description may span several files)")
	}
	if len(doc.Content) == 0 {
		return true
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return true
	}
	if _, ok := d.src.byPath[""]; !ok {
		// The file of the first mapping names errors about sections
		// missing altogether.
		d.src.Set("", Pos{File: f.Name})
	}
	d.decodeRoot(root)
	return false
}

// parseYAML parses the first document into a node tree and reports a
// second document if there is one. Plain block-style text is parsed by
// parseBlockYAML, everything else (and every error) by yaml.v3.
func parseYAML(data []byte, arena *blockArena) (doc, extra *yaml.Node, err error) {
	if doc, ok := parseBlockYAML(data, arena); ok {
		return doc, nil, nil
	}
	return parseYAMLv3(data)
}

// parseYAMLv3 is parseYAML by yaml.v3 alone. yaml.v3 is not known to
// panic since v3.0.0, but Decode must never panic, so a panic becomes an
// error.
func parseYAMLv3(data []byte) (doc, extra *yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			doc, extra, err = nil, nil, fmt.Errorf("yaml: parser failed: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var first yaml.Node
	if err := dec.Decode(&first); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, nil
		}
		return nil, nil, err
	}
	var second yaml.Node
	switch err := dec.Decode(&second); {
	case err == nil:
		return &first, &second, nil
	case errors.Is(err, io.EOF):
		return &first, nil, nil
	default:
		return nil, nil, err
	}
}

// checkText rejects binary input with a clear message before the YAML
// parser reports it without a line.
func checkText(data []byte) (Pos, string, bool) {
	line, col := 1, 1
	for i := 0; i < len(data); {
		// Printable ASCII, nearly all of a description, without
		// decoding runes: this loop ran over every byte of 10 MB.
		if b := data[i]; b >= 0x20 && b < 0x7f {
			i++
			col++
			continue
		}
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			return Pos{Line: line, Column: col}, fmt.Sprintf("byte 0x%02x is not UTF-8 text; a cluster description must be a UTF-8 YAML file", data[i]), false
		case r == '\n':
			line, col = line+1, 0
		case r < 0x20 && r != '\t' && r != '\r' || r == 0x7f:
			return Pos{Line: line, Column: col}, fmt.Sprintf("control character 0x%02x: a cluster description must be a text file", r), false
		}
		i += size
		col++
	}
	return Pos{}, "", true
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// bisectLimit bounds the files whose syntax errors are located by
// re-parsing prefixes; larger files keep yaml.v3's line.
const bisectLimit = 256 << 10

// syntaxError turns a yaml.v3 parse error into an Error with a line.
// yaml.v3 reports the line where the enclosing construct started (0-based
// for parser errors, omitted on the first line), so the line is found
// instead as the shortest prefix of the file that fails the same way.
func syntaxError(file string, data []byte, err error) *Error {
	msg, line := splitYAMLError(err)
	if len(data) <= bisectLimit {
		if l := firstFailingLine(data, msg); l > 0 {
			line = l
		}
	}
	if strings.Contains(msg, "cannot start any token") && lineHasTab(data, line) {
		msg += " (tabs are not allowed in YAML indentation; use spaces)"
	}
	// Both are what a key indented off from its siblings gives.
	if (strings.Contains(msg, "did not find expected key") || strings.Contains(msg, "mapping values are not allowed")) && siblingIndentDiffers(data, line) {
		msg += " (check the indentation: keys of one mapping start in the same column)"
	}
	return &Error{Pos: Pos{File: file, Line: line}, Msg: "invalid YAML: " + msg}
}

func splitYAMLError(err error) (msg string, line int) {
	msg = err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		return m[2], line
	}
	return strings.TrimPrefix(msg, "yaml: "), 1
}

// firstFailingLine finds by binary search the smallest number of lines
// whose parse fails with msg. Earlier prefixes parse or fail differently
// (cut inside a construct); from the bad line on the parser stops there.
func firstFailingLine(data []byte, msg string) int {
	var ends []int // ends[i]: offset just past line i+1
	for i, b := range data {
		if b == '\n' {
			ends = append(ends, i+1)
		}
	}
	if len(ends) == 0 || ends[len(ends)-1] != len(data) {
		ends = append(ends, len(data))
	}
	fails := func(lines int) bool {
		_, _, err := parseYAML(data[:ends[lines-1]], nil)
		if err == nil {
			return false
		}
		m, _ := splitYAMLError(err)
		return m == msg
	}
	lo, hi := 1, len(ends)
	if !fails(hi) {
		return 0
	}
	for lo < hi {
		mid := (lo + hi) / 2
		if fails(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

func lineHasTab(data []byte, line int) bool {
	lines := bytes.SplitN(data, []byte("\n"), line+1)
	return line >= 1 && line <= len(lines) && bytes.Contains(lines[line-1], []byte("\t"))
}

// siblingIndentDiffers reports whether line is indented differently
// from the nearest non-blank line above, and that line does not open a
// nested block (ends in ':'), so the two should have been siblings.
func siblingIndentDiffers(data []byte, line int) bool {
	lines := bytes.SplitN(data, []byte("\n"), line+1)
	if line < 2 || line > len(lines) {
		return false
	}
	indent := func(l []byte) int { return len(l) - len(bytes.TrimLeft(l, " ")) }
	for i := line - 2; i >= 0; i-- {
		prev := bytes.TrimRight(lines[i], " \r")
		if t := bytes.TrimSpace(prev); len(t) == 0 || t[0] == '#' {
			continue
		}
		return !bytes.HasSuffix(prev, []byte(":")) && indent(prev) != indent(lines[line-1])
	}
	return false
}

func (d *decoder) pos(n *yaml.Node) Pos {
	return Pos{File: d.file, Line: n.Line, Column: n.Column}
}

func (d *decoder) errorAt(p Pos, path, format string, args ...any) {
	if len(d.errs) >= maxErrors {
		d.truncated = true
		return
	}
	d.errs = append(d.errs, &Error{Pos: p, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	d.errorAt(d.pos(n), path, format, args...)
}

// setSource records the first place a path was written; later files do
// not move it (a top-level section may appear in every file).
func (d *decoder) setSource(path string, n *yaml.Node) {
	if _, ok := d.src.byPath[path]; !ok {
		d.src.Set(path, d.pos(n))
	}
}

// record is setSource below the top level, when every path is recorded.
// Paths there are unique within one Decode (duplicate keys and entries
// defined in two files are refused before their values are decoded)
// unless a key itself contains a path separator; recording blindly halves
// the table work of a large file.
func (d *decoder) record(path string, n *yaml.Node) {
	if !d.recordAll {
		return
	}
	if d.ambiguous {
		d.setSource(path, n)
		return
	}
	d.src.byPath[path] = source{Pos: d.pos(n)}
}

// recordEntry records an entry of a keyed section ("services.web") or
// the defaults, with the file whose table holds the paths below it.
func (d *decoder) recordEntry(path string, n *yaml.Node) {
	if d.recordAll {
		d.record(path, n)
		return
	}
	d.src.byPath[path] = source{Pos: d.pos(n), file: d.fileIndex + 1}
}

// refuse notes an entry skipped as defined twice, so that decoding its
// file again for positions skips it too.
func (d *decoder) refuse(path string) {
	if d.recordAll {
		return
	}
	if d.src.refused == nil {
		d.src.refused = map[refusal]bool{}
	}
	d.src.refused[refusal{d.fileIndex, path}] = true
}

// decodeRoot decodes a file's top-level mapping into the shared cluster.
// The keyed sections (nodes, vipGroups, ...) merge entry by entry; the
// cluster name and defaults may be given once.
func (d *decoder) decodeRoot(root *yaml.Node) {
	root = d.follow(root, "")
	if root == nil {
		return
	}
	if root.Kind != yaml.MappingNode {
		d.errorf(root, "", "want a mapping of sections (nodes, vipGroups, services, ...) at the top level, got %s", describe(root))
		return
	}
	v := reflect.ValueOf(d.cluster).Elem()
	fields := fieldsOf(v.Type())
	kvs := d.pairs(root, "")
	description := len(kvs) == 0
	for _, kv := range kvs {
		_, ok := fields.byName[kv.key.Value]
		description = description || ok || suggest(kv.key.Value, fields.names) != ""
	}
	if !description {
		// Some other file (a symlink gone astray, a config of another
		// program): one error quoting a short excerpt, not every line.
		d.errorf(kvs[0].key, "", "not a cluster description: no top-level key is a section (nodes, vipGroups, services, ...) or close to one; the first is %s", excerpt(kvs[0].key.Value))
		return
	}
	for _, kv := range kvs {
		name := kv.key.Value
		f, ok := fields.byName[name]
		if !ok {
			d.unknownField(kv.key, "", name, fields.names)
			continue
		}
		switch name {
		case "cluster":
			var s string
			if !d.decodeValue(kv.val, reflect.ValueOf(&s).Elem(), name) {
				continue
			}
			if prev, ok := d.src.byPath[name]; ok && d.cluster.Name != s {
				d.errorf(kv.key, name, "cluster name %q differs from %q given at %s", s, d.cluster.Name, prev.Pos)
				continue
			}
			d.setSource(name, kv.key)
			d.cluster.Name = s
			continue
		case "defaults":
			if d.skip[name] {
				continue
			}
			if prev, ok := d.src.byPath[name]; ok {
				d.errorf(kv.key, name, "defaults defined twice: also at %s; give defaults in one file only", prev.Pos)
				d.refuse(name)
				continue
			}
			d.recordEntry(name, kv.key)
		}
		d.setSource(name, kv.key)
		d.decodeValue(kv.val, v.FieldByIndex(f.index), name)
	}
}

var (
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	commandType     = reflect.TypeFor[Command]()
)

// parseInt reads an !!int scalar. Plain decimals (nearly every integer in
// a description) are parsed directly; other forms (0x1f, 0o17, 1_000,
// leading zeros) go through yaml.v3, whose rules define them.
func parseInt(n *yaml.Node) (int64, error) {
	s := n.Value
	digits := strings.TrimPrefix(strings.TrimPrefix(s, "-"), "+")
	plain := len(digits) > 0 && (digits[0] != '0' || len(digits) == 1)
	for i := 0; plain && i < len(digits); i++ {
		plain = '0' <= digits[i] && digits[i] <= '9'
	}
	if plain {
		return strconv.ParseInt(s, 10, 64)
	}
	var i int64
	err := n.Decode(&i)
	return i, err
}

// decodeValue decodes n into v and records positions under path. It
// reports whether decoding succeeded without errors at this level.
func (d *decoder) decodeValue(n *yaml.Node, v reflect.Value, path string) bool {
	if d.overBudget(n, path) {
		return false
	}
	if n.Kind == yaml.AliasNode {
		return d.decodeAlias(n, v, path)
	}

	t := v.Type()
	if t == reflect.TypeFor[VIP]() {
		return d.decodeVIP(n, v, path)
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		if err := v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
			d.errorf(n, path, "%v", err)
			return false
		}
		return true
	}

	isNull := n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
	switch t.Kind() {
	case reflect.Pointer:
		if isNull && t.Elem().Kind() != reflect.Struct && !reflect.PointerTo(t.Elem()).Implements(unmarshalerType) {
			d.errorf(n, path, "want %s, got null", want(t.Elem()))
			return false
		}
		// A null struct value ("tcp:") means present with no settings.
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		return d.decodeValue(n, v.Elem(), path)
	case reflect.Struct:
		if isNull {
			return true
		}
		return d.decodeStruct(n, v, path)
	case reflect.Map:
		if isNull {
			return true
		}
		return d.decodeMap(n, v, path)
	case reflect.Slice:
		if isNull {
			return true
		}
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, path, "want a list, got %s", describe(n))
			return false
		}
		ok := true
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, e := range n.Content {
			p := d.paths.index(path, i)
			d.record(p, e)
			ok = d.decodeValue(e, s.Index(i), p) && ok
		}
		v.Set(s)
		return ok
	case reflect.String:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
			d.errorf(n, path, "want a string, got %s", describe(n))
			return false
		}
		v.SetString(n.Value)
		return true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
			d.errorf(n, path, "want an integer, got %s", describe(n))
			return false
		}
		i, err := parseInt(n)
		if err != nil || v.OverflowInt(i) {
			d.errorf(n, path, "integer %s is out of range", n.Value)
			return false
		}
		v.SetInt(i)
		return true
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			d.errorf(n, path, "want true or false, got %s", describe(n))
			return false
		}
		b, err := strconv.ParseBool(strings.ToLower(n.Value))
		if err != nil {
			d.errorf(n, path, "want true or false, got %s", describe(n))
			return false
		}
		v.SetBool(b)
		return true
	}
	d.errorf(n, path, "cannot decode into %s (a bug in hakeeper)", t)
	return false
}

// decodeAlias decodes the value alias n refers to. It is apart from
// decodeValue because its defer made every decodeValue call pay for
// deferred calls at return (too many returns for an open-coded defer).
func (d *decoder) decodeAlias(n *yaml.Node, v reflect.Value, path string) bool {
	if d.expanding[n] {
		d.errorf(n, path, "alias *%s refers to a value that contains it", n.Value)
		return false
	}
	d.expanding[n] = true
	defer delete(d.expanding, n)
	if n.Alias == nil {
		d.errorf(n, path, "alias *%s refers to nothing", n.Value)
		return false
	}
	return d.decodeValue(n.Alias, v, path)
}

// overBudget counts one decoding step and reports, once per file, when
// the file's budget is spent: aliases and merge keys that repeat aliases
// expand exponentially (billion laughs) although the text is small.
func (d *decoder) overBudget(n *yaml.Node, path string) bool {
	if d.budget--; d.budget >= 0 {
		return false
	}
	if !d.budgetHit {
		d.budgetHit = true
		d.errorf(n, path, "document expands to too many values (aliases repeating aliases?); refusing to decode further")
	}
	return true
}

// decodeVIP accepts the string form through VIP's own unmarshaler and
// decodes the mapping form strictly (VIP.UnmarshalYAML's mapping branch
// would accept unknown keys).
func (d *decoder) decodeVIP(n *yaml.Node, v reflect.Value, path string) bool {
	switch {
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str":
		return d.decodeValue(n, v.FieldByName("Address"), path)
	case n.Kind == yaml.MappingNode:
		return d.decodeStruct(n, v, path)
	}
	d.errorf(n, path, "want an address string (192.0.2.10/24) or a mapping with address, device and label, got %s", describe(n))
	return false
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) bool {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "want a mapping, got %s", describe(n))
		return false
	}
	fields := fieldsOf(v.Type())
	ok := true
	for _, kv := range d.pairs(n, path) {
		name := kv.key.Value
		f, known := fields.byName[name]
		if !known {
			d.unknownField(kv.key, path, name, fields.names)
			ok = false
			continue
		}
		p := d.paths.join(path, name)
		d.record(p, kv.key)
		fv := v.FieldByIndex(f.index)
		ok = d.decodeValue(kv.val, fv, p) && ok
		if !d.recordAll && fv.Type() == commandType && fv.Addr().Interface().(*Command).IsZero() {
			// Validate asks whether an empty command was written at all
			// (`master: ""`) for every notify block: answer from here.
			d.src.byPath[p] = source{Pos: d.pos(kv.key)}
		}
	}
	return ok
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) bool {
	t := v.Type()
	if t.Key().Kind() != reflect.String {
		d.errorf(n, path, "cannot decode a map keyed by %s (a bug in hakeeper)", t.Key())
		return false
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "want a mapping of names to entries, got %s", describe(n))
		return false
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(t))
	}
	// A keyed section of the cluster ("services"), whose entries are
	// recorded even when paths below the top level are not.
	section := !strings.ContainsAny(path, ".[")
	ok := true
	// One key value reused: MapIndex and SetMapIndex copy it.
	key := reflect.New(t.Key()).Elem()
	for _, kv := range d.pairs(n, path) {
		key.SetString(kv.key.Value)
		p := d.paths.join(path, kv.key.Value)
		if d.skip[p] {
			ok = false
			continue
		}
		// Within one mapping pairs() rejects duplicates, so an existing
		// entry comes from an earlier file.
		if v.MapIndex(key).IsValid() {
			d.errorf(kv.key, p, "defined twice: also at %s", d.src.Lookup(p))
			d.refuse(p)
			ok = false
			continue
		}
		if strings.ContainsAny(kv.key.Value, ".[") {
			d.ambiguous = true
		}
		if section {
			d.recordEntry(p, kv.key)
		} else {
			d.record(p, kv.key)
		}
		ev := reflect.New(t.Elem()).Elem()
		ok = d.decodeValue(kv.val, ev, p) && ok
		v.SetMapIndex(key, ev)
	}
	return ok
}

type keyValue struct{ key, val *yaml.Node }

// pairs returns a mapping's entries with YAML merge keys (<<: *base)
// expanded: explicit keys win over merged ones, earlier merge sources over
// later ones. Duplicate explicit keys and non-string keys are reported.
func (d *decoder) pairs(n *yaml.Node, path string) []keyValue {
	var merged []keyValue
	// Charge every entry: merging a wide mapping many times is work too.
	d.budget -= len(n.Content) / 2
	if d.overBudget(n, path) {
		return nil
	}
	explicit := make([]keyValue, 0, len(n.Content)/2)
	seen := newKeySet(len(n.Content) / 2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merged = append(merged, d.mergeSources(val, path)...)
			continue
		}
		if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!null" {
			d.errorf(k, path, "a mapping key must be a name, got %s", describe(k))
			continue
		}
		if prev := seen.find(explicit, k.Value); prev != nil {
			d.errorf(k, joinPath(path, k.Value), "key %q appears twice in this mapping: also at line %d", k.Value, prev.Line)
			continue
		}
		seen.add(k.Value, k)
		explicit = append(explicit, keyValue{k, val})
	}
	for _, kv := range merged {
		if seen.find(explicit, kv.key.Value) == nil {
			seen.add(kv.key.Value, kv.key)
			explicit = append(explicit, kv)
		}
	}
	return explicit
}

// smallMapping is the number of keys up to which a linear search of the
// keys so far beats building a map (every struct-shaped mapping).
const smallMapping = 16

// keySet finds a mapping's keys seen so far: by scanning them for a small
// mapping, by a map for a wide one (a section of thousands of entries).
type keySet struct{ byName map[string]*yaml.Node }

func newKeySet(size int) keySet {
	if size <= smallMapping {
		return keySet{}
	}
	return keySet{byName: make(map[string]*yaml.Node, size)}
}

// find returns the key node named name, or nil. kvs are the entries kept so
// far, each of whose keys was added.
func (s keySet) find(kvs []keyValue, name string) *yaml.Node {
	if s.byName != nil {
		return s.byName[name]
	}
	for _, kv := range kvs {
		if kv.key.Value == name {
			return kv.key
		}
	}
	return nil
}

func (s keySet) add(name string, k *yaml.Node) {
	if s.byName != nil {
		s.byName[name] = k
	}
}

// mergeSources returns the entries a merge key brings in: a mapping, an
// alias of one, or a list of those.
func (d *decoder) mergeSources(val *yaml.Node, path string) []keyValue {
	if d.overBudget(val, path) {
		return nil
	}
	var out []keyValue
	switch val.Kind {
	case yaml.AliasNode:
		if d.expanding[val] || val.Alias == nil {
			d.errorf(val, path, "merge alias *%s refers to a value that contains it", val.Value)
			return nil
		}
		d.expanding[val] = true
		out = d.mergeSources(val.Alias, path)
		delete(d.expanding, val)
	case yaml.MappingNode:
		out = d.pairs(val, path)
	case yaml.SequenceNode:
		for _, e := range val.Content {
			if e.Kind == yaml.SequenceNode {
				d.errorf(e, path, "a merge key (<<) takes a mapping or a list of mappings, got a list inside the list")
				continue
			}
			out = append(out, d.mergeSources(e, path)...)
		}
	default:
		d.errorf(val, path, "a merge key (<<) takes a mapping or a list of mappings, got %s", describe(val))
	}
	return out
}

// follow resolves an alias at the top of a document.
func (d *decoder) follow(n *yaml.Node, path string) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		if d.expanding[n] {
			d.errorf(n, path, "alias *%s refers to a value that contains it", n.Value)
			return nil
		}
		d.expanding[n] = true
		n = n.Alias
	}
	return n
}

func (d *decoder) unknownField(key *yaml.Node, path, name string, known []string) {
	msg := fmt.Sprintf("unknown field %q", name)
	if s := suggest(name, known); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	} else {
		msg += " (known: " + strings.Join(known, ", ") + ")"
	}
	d.errorf(key, joinPath(path, name), "%s", msg)
}

// pathArena builds field paths in large shared blocks: a description of
// 10,000 services records some 260,000 paths, and one allocation (and one
// object for the collector) per path was a good part of decoding. Bytes
// are only ever appended, so the strings made over them never change.
type pathArena struct{ block []byte }

const pathBlockSize = 64 << 10

// join returns joinPath(path, name).
func (a *pathArena) join(path, name string) string {
	if path == "" {
		return name
	}
	b, start := a.reserve(len(path) + 1 + len(name))
	b = append(b, path...)
	b = append(b, '.')
	b = append(b, name...)
	return a.commit(b, start)
}

// index returns path + "[i]".
func (a *pathArena) index(path string, i int) string {
	b, start := a.reserve(len(path) + 2 + 20)
	b = append(b, path...)
	b = append(b, '[')
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, ']')
	return a.commit(b, start)
}

// reserve makes room for n more bytes and returns the block to append
// to and where the new string starts.
func (a *pathArena) reserve(n int) ([]byte, int) {
	if cap(a.block)-len(a.block) < n {
		a.block = make([]byte, 0, max(n, pathBlockSize))
	}
	return a.block, len(a.block)
}

func (a *pathArena) commit(b []byte, start int) string {
	a.block = b
	if len(b) == start {
		return ""
	}
	return unsafe.String(&b[start], len(b)-start)
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// describe names a node's kind and value for "want X, got Y" messages.
// excerpt quotes at most the first 40 bytes of the first line of s: an
// error about a file that is not a description must not echo it.
func excerpt(s string) string {
	s, _, cut := strings.Cut(s, "\n")
	if len(s) > 40 {
		s, cut = s[:40], true
	}
	if cut {
		return strconv.Quote(s) + "..."
	}
	return strconv.Quote(s)
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:40] + "..."
	}
	switch n.ShortTag() {
	case "!!str":
		return fmt.Sprintf("string %q", v)
	case "!!int":
		return "integer " + v
	case "!!float":
		return "number " + v
	case "!!bool":
		return "boolean " + v
	case "!!null":
		return "null"
	}
	return fmt.Sprintf("%s %q", n.ShortTag(), v)
}

// want names what a Go type expects, for "got null" messages.
func want(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Slice:
		return "a list"
	case reflect.Map:
		return "a mapping"
	}
	return "a value"
}

type field struct{ index []int }

type fieldTable struct {
	byName map[string]field
	names  []string // sorted, for messages and suggestions
}

var fieldCache sync.Map // reflect.Type → *fieldTable

// fieldsOf lists a struct's YAML keys the way yaml.v3 does: the tag's name
// (or the lowercased field name), "-" skipped, ",inline" flattened.
func fieldsOf(t reflect.Type) *fieldTable {
	if ft, ok := fieldCache.Load(t); ok {
		return ft.(*fieldTable)
	}
	ft := &fieldTable{byName: map[string]field{}}
	var walk func(t reflect.Type, prefix []int)
	walk = func(t reflect.Type, prefix []int) {
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			if !sf.IsExported() {
				continue
			}
			tag := sf.Tag.Get("yaml")
			name, opts, _ := strings.Cut(tag, ",")
			if name == "-" {
				continue
			}
			index := append(append([]int(nil), prefix...), i)
			if strings.Contains(","+opts+",", ",inline,") && sf.Type.Kind() == reflect.Struct {
				walk(sf.Type, index)
				continue
			}
			if name == "" {
				name = strings.ToLower(sf.Name)
			}
			ft.byName[name] = field{index: index}
		}
	}
	walk(t, nil)
	for name := range ft.byName {
		ft.names = append(ft.names, name)
	}
	sort.Strings(ft.names)
	fieldCache.Store(t, ft)
	return ft
}
