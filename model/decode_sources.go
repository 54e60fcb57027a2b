package model

// fileTable returns where every path of file i was written, decoding the
// file again with every path recorded the first time it is asked for. The
// entries Decode refused in that file are skipped again, so the file
// decodes exactly as it did (the same values, the same decode budget).
func (s *Sources) fileTable(i int) map[string]source {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tables == nil {
		s.tables = make([]map[string]source, len(s.files))
	}
	if s.tables[i] != nil {
		return s.tables[i]
	}
	skip := map[string]bool{}
	for r := range s.refused {
		if r.file == i {
			skip[r.path] = true
		}
	}
	f := s.files[i]
	parsed := parseFile(f, nil)
	d := &decoder{cluster: &Cluster{}, src: NewSources(), recordAll: true, skip: skip}
	d.decodeFile(i, f, &parsed)
	s.tables[i] = d.src.byPath
	return s.tables[i]
}

// written reports whether path was written in the source, even with an
// empty value.
func (s *Sources) written(path string) bool {
	if s == nil {
		return false
	}
	if _, ok := s.byPath[path]; ok {
		return true
	}
	for p := parentPath(path); p != ""; p = parentPath(p) {
		if e, ok := s.byPath[p]; ok {
			if e.file == 0 {
				return false
			}
			_, ok := s.fileTable(e.file - 1)[path]
			return ok
		}
	}
	return false
}

// writtenEmptyCommand reports whether an empty command at path was
// written (`master: ""` decodes to the same Command as no master). Decode
// records such paths eagerly, so the answer needs no file decoded again.
func (s *Sources) writtenEmptyCommand(path string) bool {
	if s == nil {
		return false
	}
	_, ok := s.byPath[path]
	return ok
}
