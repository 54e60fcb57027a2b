package keepalived

// A keyword handler reads one statement of a block into the object the
// block describes (T). Each block reader is a table of them: adding a
// keyword is adding an entry, and the readers stay short.
type handler[T any] func(im *importer, x *T, s *Stmt) error

// readBlock runs the handler of every statement of a block; statements
// without one are reported as not mapped to hakeeper.
func readBlock[T any](im *importer, x *T, block []*Stmt, table map[string]handler[T], where string) error {
	for _, s := range block {
		h := table[s.Keyword]
		if h == nil {
			im.unmapped(s, where)
			continue
		}
		if err := h(im, x, s); err != nil {
			return err
		}
	}
	return nil
}

// key builds the common handler: parse the statement's argument with
// one of the value parsers (intArg, secondsArg, ...), then store it with
// set.
func key[T, V any](parse func(*Stmt) (V, error), set func(*T, V)) handler[T] {
	return func(_ *importer, x *T, s *Stmt) error {
		v, err := parse(s)
		if err != nil {
			return err
		}
		set(x, v)
		return nil
	}
}

// flagKey handles a keyword without arguments.
func flagKey[T any](set func(*T)) handler[T] {
	return func(_ *importer, x *T, _ *Stmt) error {
		set(x)
		return nil
	}
}

// withKeys returns table with the entries of more added, each reaching
// its own object through part (a block's check timing or notify hooks).
// table's own entries win.
func withKeys[T, P any](table map[string]handler[T], more map[string]handler[P], part func(*T) *P) map[string]handler[T] {
	for k, h := range more {
		if table[k] == nil {
			table[k] = func(im *importer, x *T, s *Stmt) error { return h(im, part(x), s) }
		}
	}
	return table
}
