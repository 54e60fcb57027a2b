package model

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// This file turns a file's bytes into a yaml.v3 node tree, or into one
// error with a line a person can act on.

// parseYAML parses the first document into a node tree and reports a
// second document if there is one. yaml.v3 is not known to panic since
// v3.0.0, but Decode must never panic, so a panic becomes an error.
func parseYAML(data []byte) (doc, extra *yaml.Node, err error) {
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

// checkFile rejects an oversized file, and binary input with a clear
// message before the YAML parser reports it without a line.
func checkFile(f File) *Error {
	if len(f.Data) > MaxFileSize {
		return &Error{Pos: Pos{File: f.Name}, Msg: fmt.Sprintf("file is %d bytes; a cluster description file may be at most %d bytes", len(f.Data), MaxFileSize)}
	}
	data, line, col := f.Data, 1, 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			return &Error{Pos: Pos{File: f.Name, Line: line, Column: col}, Msg: fmt.Sprintf("byte 0x%02x is not UTF-8 text; a cluster description must be a UTF-8 YAML file", data[i])}
		case r == '\n':
			line, col = line+1, 0
		case r < 0x20 && r != '\t' && r != '\r' || r == 0x7f:
			return &Error{Pos: Pos{File: f.Name, Line: line, Column: col}, Msg: fmt.Sprintf("control character 0x%02x: a cluster description must be a text file", r)}
		}
		i += size
		col++
	}
	return nil
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
	// lines ends with the failing line, when the file has it.
	if lines := bytes.SplitN(data, []byte("\n"), line+1); line >= 1 && line <= len(lines) {
		lines = lines[:line]
		if strings.Contains(msg, "cannot start any token") && bytes.Contains(lines[line-1], []byte("\t")) {
			msg += " (tabs are not allowed in YAML indentation; use spaces)"
		}
		// Both are what a key indented off from its siblings gives.
		if (strings.Contains(msg, "did not find expected key") || strings.Contains(msg, "mapping values are not allowed")) && siblingIndentDiffers(lines) {
			msg += " (check the indentation: keys of one mapping start in the same column)"
		}
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
		_, _, err := parseYAML(data[:ends[lines-1]])
		if err == nil {
			return false
		}
		m, _ := splitYAMLError(err)
		return m == msg
	}
	if !fails(len(ends)) {
		return 0
	}
	return 1 + sort.Search(len(ends)-1, func(i int) bool { return fails(i + 1) })
}

// siblingIndentDiffers reports whether the last of lines is indented
// differently from the nearest non-blank line above, and that line does
// not open a nested block (ends in ':'), so the two should have been
// siblings.
func siblingIndentDiffers(lines [][]byte) bool {
	last := lines[len(lines)-1]
	indent := func(l []byte) int { return len(l) - len(bytes.TrimLeft(l, " ")) }
	for i := len(lines) - 2; i >= 0; i-- {
		prev := bytes.TrimRight(lines[i], " \r")
		if t := bytes.TrimSpace(prev); len(t) == 0 || t[0] == '#' {
			continue
		}
		return !bytes.HasSuffix(prev, []byte(":")) && indent(prev) != indent(last)
	}
	return false
}
