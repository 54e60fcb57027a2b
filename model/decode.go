package model

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// Limits that keep Decode bounded on hostile input. A real cluster
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
	// maxSizedPaths caps the path table sized ahead from the line count,
	// so a file of blank lines cannot make Decode allocate a huge one.
	maxSizedPaths = 1 << 20
)

// Decode parses the files of one cluster description strictly and merges
// them: unknown keys, wrong types, duplicate keys and entries defined in two
// files are errors. Every problem is returned, sorted by place. The cluster
// is returned even when there are errors (partially filled), with Sources
// recording where each field was written.
//
// An empty or comment-only file is an error when it is the only file with
// content: a description split over several files may contain empty ones
// (for example a placeholder for a team's services).
//
// Files are parsed by yaml.v3 and decoded here rather than by yaml.v3's
// Decode, whose KnownFields does not reach through custom unmarshalers
// and which reports no per-field positions. The format's rules where YAML
// itself is ambiguous are in docs/format.md ("YAML details").
func Decode(files []File) (*Cluster, ErrorList) {
	// A line records at most two paths ("- address: ..." is a list entry
	// and its key): sizing the table once spares growing it step by step
	// through a large description (BenchmarkPlan10k in reconcile/plan,
	// docs/performance.md).
	lines := 0
	for _, f := range files {
		lines += bytes.Count(f.Data, []byte{'\n'})
	}
	c := &Cluster{Sources: make(Sources, min(2*lines, maxSizedPaths))}
	d := &decoder{cluster: c, src: c.Sources}
	if len(files) == 0 {
		return c, ErrorList{{Msg: "no files to decode"}}
	}
	var empty []File
	for _, f := range files {
		if d.decodeFile(f) {
			empty = append(empty, f)
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
	return c, d.errs
}

// decoder decodes yaml.Node trees into the Cluster types by reflection,
// honouring yaml struct tags, and records every path's place in src.
type decoder struct {
	cluster   *Cluster
	src       Sources
	errs      ErrorList
	truncated bool

	// Per file.
	file   string
	budget int
	// expanding holds the aliases being followed, to stop cycles (&a [*a]).
	expanding map[*yaml.Node]bool
	budgetHit bool
}

// decodeFile decodes one file into d.cluster. It reports whether the file
// held no document at all.
func (d *decoder) decodeFile(f File) (empty bool) {
	d.file = f.Name
	d.budget = decodeBudgetBase + decodeBudgetPerByte*len(f.Data)
	d.expanding = map[*yaml.Node]bool{}
	d.budgetHit = false

	if problem := checkFile(f); problem != nil {
		d.add(problem)
		return false
	}
	doc, extra, err := parseYAML(f.Data)
	if err != nil {
		// A syntax error is reported even past maxErrors.
		d.errs = append(d.errs, syntaxError(f.Name, f.Data, err))
		return false
	}
	if doc == nil {
		return true
	}
	if extra != nil {
		d.errorf(extra, "", "a second YAML document starts here; put one document per file (a description may span several files)")
	}
	if len(doc.Content) == 0 {
		return true
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return true
	}
	// The file of the first mapping names errors about sections missing
	// altogether.
	d.src.setFirst("", Pos{File: f.Name})
	d.decodeRoot(root)
	return false
}

func (d *decoder) pos(n *yaml.Node) Pos {
	return Pos{File: d.file, Line: n.Line, Column: n.Column}
}

// add records a problem, or notes that one was dropped past maxErrors.
func (d *decoder) add(e *Error) {
	if len(d.errs) >= maxErrors {
		d.truncated = true
		return
	}
	d.errs = append(d.errs, e)
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	d.add(&Error{Pos: d.pos(n), Path: path, Msg: fmt.Sprintf(format, args...)})
}

// record notes where path was written; the first place wins.
func (d *decoder) record(path string, n *yaml.Node) {
	d.src.setFirst(path, d.pos(n))
}

// decodeRoot decodes a file's top-level mapping into the shared cluster.
// The keyed sections (nodes, vipGroups, ...) merge entry by entry; the
// cluster name and defaults may be given once. Keys starting with "x-"
// are ignored: they hold values for anchors (docker-compose's extension
// fields), which aliases elsewhere bring in.
func (d *decoder) decodeRoot(root *yaml.Node) {
	// A document cannot start with an alias: its anchor would have to come
	// first. So the root is the node itself.
	if root.Kind != yaml.MappingNode {
		d.errorf(root, "", "want a mapping of sections (nodes, vipGroups, services, ...) at the top level, got %s", describe(root))
		return
	}
	v := reflect.ValueOf(d.cluster).Elem()
	fields := fieldsOf(v.Type())
	kvs := d.pairs(root, "")
	isSection := func(kv keyValue) bool {
		_, ok := fields.byName[kv.key.Value]
		return ok || suggest(kv.key.Value, fields.names) != ""
	}
	if len(kvs) > 0 && !slices.ContainsFunc(kvs, isSection) {
		// Some other file (a symlink gone astray, a config of another
		// program): one error quoting a short excerpt, not every line.
		d.errorf(kvs[0].key, "", "not a cluster description: no top-level key is a section (nodes, vipGroups, services, ...) or close to one; the first is %s", excerpt(kvs[0].key.Value))
		return
	}
	for _, kv := range kvs {
		name := kv.key.Value
		if strings.HasPrefix(name, "x-") {
			continue
		}
		index, ok := fields.byName[name]
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
			if prev, ok := d.src[name]; ok && d.cluster.Name != s {
				d.errorf(kv.key, name, "cluster name %q differs from %q given at %s", s, d.cluster.Name, prev)
				continue
			}
			d.record(name, kv.key)
			d.cluster.Name = s
			continue
		case "defaults":
			if prev, ok := d.src[name]; ok {
				d.errorf(kv.key, name, "defaults defined twice: also at %s; give defaults in one file only", prev)
				continue
			}
		}
		d.record(name, kv.key)
		d.decodeValue(kv.val, v.FieldByIndex(index), name)
	}
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// parseInt reads an !!int scalar as yaml.v3 does (0x1f, 0o17, 1_000).
// Callers refuse a leading zero first (leadingZero): `08` is no !!int.
func parseInt(n *yaml.Node) (int64, error) {
	var i int64
	if err := n.Decode(&i); err != nil {
		return 0, fmt.Errorf("integer %s is out of range", n.Value)
	}
	return i, nil
}

// leadingZero refuses a plain number written with a leading zero: YAML
// 1.1 (and yaml.v3) read 051 as the octal 41, YAML 1.2 reads it as 51,
// and people mean 51. 0o51 says octal.
func leadingZero(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.Style != 0 {
		return nil
	}
	sign, digits := "", n.Value
	if digits != "" && (digits[0] == '-' || digits[0] == '+') {
		sign, digits = digits[:1], digits[1:]
	}
	if len(digits) < 2 || digits[0] != '0' || strings.Trim(digits, "0123456789_") != "" {
		return nil
	}
	decimal := cmp.Or(strings.TrimLeft(strings.ReplaceAll(digits, "_", ""), "0"), "0")
	if sign == "+" {
		sign = ""
	}
	msg := fmt.Sprintf("integer %s has a leading zero, which YAML 1.1 reads as octal: write %s%s", n.Value, sign, decimal)
	if strings.Trim(decimal, "01234567") == "" {
		msg += fmt.Sprintf(" (or %s0o%s for octal)", sign, decimal)
	}
	return errors.New(msg)
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
	if isNull && slices.Contains([]reflect.Kind{reflect.Struct, reflect.Map, reflect.Slice}, t.Kind()) {
		return true // "tcp:", "services:": present, with no settings or entries
	}
	switch t.Kind() {
	case reflect.Pointer:
		if isNull && t.Elem().Kind() != reflect.Struct && !reflect.PointerTo(t.Elem()).Implements(unmarshalerType) {
			// Null is no value for a setting (rise: null): decoding it into
			// a scratch value reports what the setting wants, and the
			// setting stays unset.
			return d.decodeValue(n, reflect.New(t.Elem()).Elem(), path)
		}
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		return d.decodeValue(n, v.Elem(), path)
	case reflect.Struct:
		return d.decodeStruct(n, v, path)
	case reflect.Map:
		return d.decodeMap(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, path, "want a list, got %s", describe(n))
			return false
		}
		ok := true
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, e := range n.Content {
			p := path + "[" + strconv.Itoa(i) + "]"
			d.record(p, e)
			ok = d.decodeValue(e, s.Index(i), p) && ok
		}
		v.Set(s)
		return ok
	case reflect.String:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
			msg := "want a string, got " + describe(n)
			if n.Kind == yaml.ScalarNode && n.ShortTag() != "!!null" {
				// interface: 0 — yaml.v3 alone would take the text.
				msg += fmt.Sprintf("; quote it if the text is meant: %q", n.Value)
			}
			d.errorf(n, path, "%s", msg)
			return false
		}
		v.SetString(n.Value)
		return true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if err := leadingZero(n); err != nil {
			d.errorf(n, path, "%v", err)
			return false
		}
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
			d.errorf(n, path, "want an integer, got %s", describe(n))
			return false
		}
		i, err := parseInt(n)
		if err == nil && v.OverflowInt(i) {
			err = fmt.Errorf("integer %s is out of range", n.Value)
		}
		if err != nil {
			d.errorf(n, path, "%v", err)
			return false
		}
		v.SetInt(i)
		return true
	case reflect.Bool:
		// Only true and false: YAML 1.1's yes, no, on and off are
		// strings in YAML 1.2, and yaml.v3 would turn them into booleans.
		b, err := strconv.ParseBool(strings.ToLower(n.Value))
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || err != nil {
			d.errorf(n, path, "want true or false, got %s", describe(n))
			return false
		}
		v.SetBool(b)
		return true
	}
	d.errorf(n, path, "cannot decode into %s (a bug in hakeeper)", t)
	return false
}

// decodeAlias decodes the value alias n refers to.
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

// decodeVIP accepts a VIP's two forms: an address string, or a mapping
// with address, device and label.
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
		index, known := fields.byName[name]
		if !known {
			d.unknownField(kv.key, path, name, fields.names)
			ok = false
			continue
		}
		p := joinPath(path, name)
		d.record(p, kv.key)
		ok = d.decodeValue(kv.val, v.FieldByIndex(index), p) && ok
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
	ok := true
	for _, kv := range d.pairs(n, path) {
		key := reflect.ValueOf(kv.key.Value).Convert(t.Key())
		p := joinPath(path, kv.key.Value)
		// Within one mapping pairs() rejects duplicates, so an existing
		// entry comes from an earlier file.
		if v.MapIndex(key).IsValid() {
			d.errorf(kv.key, p, "defined twice: also at %s", d.src.Lookup(p))
			ok = false
			continue
		}
		d.record(p, kv.key)
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
	seen := make(map[string]*yaml.Node, len(n.Content)/2)
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
		if prev := seen[k.Value]; prev != nil {
			d.errorf(k, joinPath(path, k.Value), "key %q appears twice in this mapping: also at line %d", k.Value, prev.Line)
			continue
		}
		seen[k.Value] = k
		explicit = append(explicit, keyValue{k, val})
	}
	for _, kv := range merged {
		if seen[kv.key.Value] == nil {
			seen[kv.key.Value] = kv.key
			explicit = append(explicit, kv)
		}
	}
	return explicit
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

func (d *decoder) unknownField(key *yaml.Node, path, name string, known []string) {
	hint := cmp.Or(didYouMean(name, known), " (known: "+strings.Join(known, ", ")+")")
	d.errorf(key, joinPath(path, name), "unknown field %q%s", name, hint)
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

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

// describe names a node's kind and value for "want X, got Y" messages.
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

type fieldTable struct {
	byName map[string][]int // YAML key → the field's index path
	names  []string         // sorted, for messages and suggestions
}

// fieldCache keeps each struct type's table: building it for every
// mapping decoded is the largest single cost BenchmarkPlan10k (make
// bench, docs/performance.md) has shown.
var fieldCache sync.Map // reflect.Type → *fieldTable

// fieldsOf lists a struct's YAML keys the way yaml.v3 does: the tag's name
// (or the lowercased field name), "-" skipped, ",inline" flattened.
func fieldsOf(t reflect.Type) *fieldTable {
	if ft, ok := fieldCache.Load(t); ok {
		return ft.(*fieldTable)
	}
	ft := &fieldTable{byName: map[string][]int{}}
	var walk func(t reflect.Type, prefix []int)
	walk = func(t reflect.Type, prefix []int) {
		for i := range t.NumField() {
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
			ft.byName[name] = index
		}
	}
	walk(t, nil)
	ft.names = sortedKeys(ft.byName)
	fieldCache.Store(t, ft)
	return ft
}
