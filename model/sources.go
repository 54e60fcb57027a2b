package model

import "strings"

// Sources tells where field paths ("vipGroups.web.vrid",
// "vipGroups.web.vips[0]") were written. Decode records every path it
// decodes; "" is the file of the first top-level mapping. A nil table
// knows no places.
type Sources map[string]Pos

// setFirst records where path was written unless it already was: the
// first place wins (a section key may appear in every file, and a map
// key containing '.' or '[' can spell a path written elsewhere).
func (s Sources) setFirst(path string, p Pos) {
	if _, ok := s[path]; !ok {
		s[path] = p
	}
}

// Lookup returns where path was written. A path not recorded falls back to
// its nearest recorded parent, so every error can name a place.
func (s Sources) Lookup(path string) Pos {
	for p := path; p != ""; p = parentPath(p) {
		if pos, ok := s[p]; ok {
			return pos
		}
	}
	return Pos{}
}

// written reports whether path was written in the source, even with an
// empty value.
func (s Sources) written(path string) bool {
	_, ok := s[path]
	return ok
}

func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}
