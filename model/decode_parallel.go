package model

import (
	"reflect"
	"sync"
	"sync/atomic"
)

// partialFile is one file decoded on its own, into a cluster of its own,
// as if no other file existed.
type partialFile struct {
	// parsed holds a file that was not decoded (parsed.problem set): it
	// is decoded in order, since whether its problem is reported depends
	// on the errors of the files before it.
	parsed parsedFile
	d      *decoder
	empty  bool
}

// decodeParallel parses and decodes each file on its own on workers
// goroutines while this one merges the results in file order as they
// come. Parsing and decoding a file need nothing from the other files;
// only the merge does (entries defined twice, the cluster name, the
// error cap). A file whose merge would differ from decoding it after the
// files before it (any conflict with them, or errors reaching maxErrors)
// is parsed and decoded again in order against the merged cluster, so
// the result is exactly the sequential one. It returns the files
// without a document.
func (d *decoder) decodeParallel(files []File, workers int) (empty []File) {
	parts := make([]partialFile, len(files))
	ready := make([]chan struct{}, len(files))
	for i := range ready {
		ready[i] = make(chan struct{})
	}
	var next atomic.Int64
	for range workers {
		go func() {
			var arena blockArena
			for {
				i := int(next.Add(1) - 1)
				if i >= len(files) {
					return
				}
				parts[i] = decodeAlone(i, files[i], &arena)
				close(ready[i])
			}
		}()
	}
	for i, f := range files {
		<-ready[i]
		p := parts[i]
		parts[i] = partialFile{} // let the partial cluster go
		switch {
		case p.d == nil:
			p.empty = d.decodeFile(i, f, &p.parsed)
		case !d.merge(p.d):
			parsed := parseFile(f, nil)
			p.empty = d.decodeFile(i, f, &parsed)
		}
		if p.empty {
			empty = append(empty, f)
		}
	}
	return empty
}

// decodeAlone parses file i and decodes it into a cluster of its own.
// The node tree is dropped before returning: at most one tree per worker
// is alive, built in the worker's arena.
func decodeAlone(i int, f File, arena *blockArena) partialFile {
	parsed := parseFile(f, arena)
	if parsed.problem != nil {
		return partialFile{parsed: parsed}
	}
	src := NewSources()
	d := &decoder{cluster: &Cluster{Sources: src}, src: src}
	empty := d.decodeFile(i, f, &parsed)
	return partialFile{d: d, empty: empty}
}

// topField is a decoded field of Cluster: a section of the description.
type topField struct {
	index int
	name  string
}

var topFields = sync.OnceValue(func() []topField {
	ft := fieldsOf(reflect.TypeFor[Cluster]())
	fs := make([]topField, 0, len(ft.names))
	for _, name := range ft.names {
		fs = append(fs, topField{ft.byName[name].index[0], name})
	}
	return fs
})

// merge adds file part, decoded alone, to the cluster when that gives
// what decoding it after the files merged so far would: none of its
// entries, defaults or cluster name meets one of theirs, and its errors
// stay within maxErrors. Otherwise it changes nothing and reports false.
func (d *decoder) merge(part *decoder) bool {
	if part.truncated || len(part.src.refused) > 0 || len(d.errs)+len(part.errs) > maxErrors {
		return false
	}
	dst, src := reflect.ValueOf(d.cluster).Elem(), reflect.ValueOf(part.cluster).Elem()
	// Check everything before changing anything.
	for _, f := range topFields() {
		if _, wrote := part.src.byPath[f.name]; !wrote {
			continue
		}
		_, merged := d.src.byPath[f.name]
		switch sv := src.Field(f.index); {
		case f.name == "cluster":
			if merged && d.cluster.Name != part.cluster.Name {
				return false
			}
		case f.name == "defaults":
			if merged {
				return false
			}
		case sv.Kind() == reflect.Map:
			dv := dst.Field(f.index)
			if dv.Len() == 0 {
				continue
			}
			for it := sv.MapRange(); it.Next(); {
				if dv.MapIndex(it.Key()).IsValid() {
					return false
				}
			}
		default:
			// A section that is not keyed: replaying its decoding here
			// is not worth it.
			return false
		}
	}
	for _, f := range topFields() {
		if _, wrote := part.src.byPath[f.name]; !wrote {
			continue
		}
		switch sv, dv := src.Field(f.index), dst.Field(f.index); {
		case f.name == "cluster" || f.name == "defaults":
			dv.Set(sv)
		case sv.IsNil():
		case dv.IsNil():
			dv.Set(sv)
		default:
			for it := sv.MapRange(); it.Next(); {
				dv.SetMapIndex(it.Key(), it.Value())
			}
		}
	}
	for p, s := range part.src.byPath {
		if _, ok := d.src.byPath[p]; !ok {
			d.src.byPath[p] = s
		}
	}
	d.errs = append(d.errs, part.errs...)
	d.ambiguous = d.ambiguous || part.ambiguous
	return true
}
