package plan

import "github.com/hakeeper/hakeeper/model"

// field describes one attribute of an object of type T: how to compare it
// between desired and live, and how to show it. Keeping
// both in one table entry stops comparison and display from drifting apart.
type field[T any] struct {
	name string
	eq   func(a, b *T) bool
	str  func(*T) string
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
	var out []FieldChange
	for i := range fields {
		if s := fields[i].str(v); s != "" {
			out = append(out, FieldChange{Name: fields[i].name, Old: s})
		}
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

// sliceEq compares two slices element by element with ==.
func sliceEq[E comparable](a, b []E) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// notifyUser shows who runs the hooks only when there is a hook: a
// scriptUser default reaches every instance, hooks or not.
func notifyUser(n *model.NotifySpec) string {
	if n.Master.IsZero() && n.Backup.IsZero() && n.Fault.IsZero() && n.Stop.IsZero() {
		return ""
	}
	return n.User
}
