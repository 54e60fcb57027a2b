package plan

// field describes one attribute of an object of type T: how to compare it
// between desired and live, and how to show it. Keeping
// both in one table entry stops comparison and display from drifting apart.
type field[T any] struct {
	name string
	eq   func(a, b *T) bool
	str  func(*T) string
}

// shownField is a field compared by how it is shown: for kernel
// attributes, whose strings say all a plan needs of them.
func shownField[T any](name string, str func(*T) string) field[T] {
	return field[T]{name, func(a, b *T) bool { return str(a) == str(b) }, str}
}

// equal reports whether every field of a and b is equal.
func equal[T any](fields []field[T], a, b *T) bool {
	for i := range fields {
		if !fields[i].eq(a, b) {
			return false
		}
	}
	return true
}

// created lists the set (non-empty) fields of a new object.
func created[T any](fields []field[T], v *T) []FieldChange {
	var out []FieldChange
	for i := range fields {
		if s := fields[i].str(v); s != "" {
			out = append(out, FieldChange{Name: fields[i].name, New: s})
		}
	}
	return out
}

// deleted lists the set fields of an object about to be removed.
func deleted[T any](fields []field[T], v *T) []FieldChange {
	out := created(fields, v)
	for i := range out {
		out[i].Old, out[i].New = out[i].New, ""
	}
	return out
}

// updated lists only the fields that differ, old → new.
func updated[T any](fields []field[T], live, desired *T) []FieldChange {
	var out []FieldChange
	for i := range fields {
		if !fields[i].eq(live, desired) {
			out = append(out, FieldChange{Name: fields[i].name, Old: fields[i].str(live), New: fields[i].str(desired)})
		}
	}
	return out
}

// renamed puts a change of name first when an object matched by its
// identity was renamed: names are labels.
func renamed(oldName, newName string, fields []FieldChange) []FieldChange {
	if oldName == newName {
		return fields
	}
	return append([]FieldChange{{Name: "name", Old: oldName, New: newName}}, fields...)
}

// ptrEq compares two pointers to comparable structs by value.
func ptrEq[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
