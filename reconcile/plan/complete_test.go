package plan

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hakeeper/hakeeper/model"
)

// The plan compares desired and live objects with hand-written tables
// (instanceFields, serviceFields, realServerFields, checkEq). A field added
// to the model's desired-state types but to no table would never show up
// in a plan, and a changed setting would look in sync. These tests change
// every field of the types one at a time, by reflection, and require Diff
// to report a change, unless the field is listed below with the reason it
// is not compared.

// notCompared lists the fields (paths as printed by leafPaths) that Diff
// deliberately does not compare, with why.
var notCompared = map[string]string{
	// NodeState's own fields: Diff plans a node's instances and services;
	// the node itself is chosen by name, not diffed.
	"Cluster":   "the cluster's name labels the plan; nothing on the node changes with it",
	"Node":      "the plan is for one node, named in Plan.Node",
	"Address":   "the node's addresses and interface are the host's, which hakeeper never changes",
	"Address6":  "the node's addresses and interface are the host's, which hakeeper never changes",
	"Interface": "the node's addresses and interface are the host's, which hakeeper never changes",
	// The real-server role is planned against the kernel: Live.RealServer
	// is the realserver programmer's operations, tested in realserver_test.go.
	"RealServer": "planned from the realserver programmer's operations against the kernel, not by comparing states",
	// The kernel's sync daemon does not know which group drives it.
	"ConnectionSync.Group": "the group only decides the daemon's state; the kernel's daemon does not record it",
}

// step is one move down a value: a struct field, or element 0 of a slice.
type step struct {
	field int // -1: slice element 0
	name  string
}

type leaf struct {
	path []step
	// nilable: the leaf is a pointer or slice, also tried as nil.
	nilable bool
}

func (l leaf) String() string {
	var b strings.Builder
	for _, s := range l.path {
		if s.field < 0 {
			b.WriteString("[0]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.name)
	}
	return b.String()
}

// wholeValue types are one setting each: their insides are not settings.
var wholeValue = map[reflect.Type]bool{
	reflect.TypeOf(netip.Addr{}):   true,
	reflect.TypeOf(netip.Prefix{}): true,
}

// leafPaths lists every setting of t: fields of structs, pointed-to
// structs and slice elements, down to whole values.
func leafPaths(t reflect.Type, prefix []step) []leaf {
	var out []leaf
	for i := range t.NumField() {
		f := t.Field(i)
		p := append(slices.Clone(prefix), step{i, f.Name})
		ft := f.Type
		nilable := ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice
		if nilable {
			out = append(out, leaf{path: p, nilable: true})
		}
		switch {
		case ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct && !wholeValue[ft.Elem()]:
			out = append(out, leafPaths(ft.Elem(), p)...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct && !wholeValue[ft.Elem()]:
			out = append(out, leafPaths(ft.Elem(), append(p, step{-1, ""}))...)
		case ft.Kind() == reflect.Struct && !wholeValue[ft]:
			out = append(out, leafPaths(ft, p)...)
		case !nilable:
			out = append(out, leaf{path: p})
		}
	}
	return out
}

// fill sets every field of v to a value depending on seed, so values
// filled with different seeds differ in every field.
func fill(v reflect.Value, seed int) {
	switch v.Type() {
	case reflect.TypeOf(netip.Addr{}):
		v.Set(reflect.ValueOf(netip.AddrFrom4([4]byte{192, 0, 2, byte(seed)})))
		return
	case reflect.TypeOf(netip.Prefix{}):
		v.Set(reflect.ValueOf(netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(seed)}), 24+seed)))
		return
	}
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(seed%2 == 1)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(seed))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(seed))
	case reflect.String:
		v.SetString(fmt.Sprintf("v%d", seed))
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), seed)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0), seed)
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i), seed)
		}
	default:
		panic("fill: no rule for " + v.Type().String())
	}
}

// at walks v along path; each step exists, as fill made it.
func at(v reflect.Value, path []step) reflect.Value {
	for _, s := range path {
		for v.Kind() == reflect.Pointer {
			v = v.Elem()
		}
		if s.field < 0 {
			v = v.Index(0)
		} else {
			v = v.Field(s.field)
		}
	}
	return v
}

// mutations of a leaf: another value, and nil for pointers and slices.
func mutate(v reflect.Value, l leaf, nilIt bool) {
	f := at(v, l.path)
	if nilIt {
		f.Set(reflect.Zero(f.Type()))
		return
	}
	fill(f, 2)
}

func filledState() *model.NodeState {
	var s model.NodeState
	fill(reflect.ValueOf(&s).Elem(), 1)
	return &s
}

func TestDiffComparesEveryField(t *testing.T) {
	leaves := leafPaths(reflect.TypeOf(model.NodeState{}), nil)
	if len(leaves) < 80 {
		t.Fatalf("found only %d fields", len(leaves))
	}
	base := filledState()
	if p := Diff(filledState(), liveState(base)); len(p.Changes) != 0 {
		t.Fatalf("two states filled alike differ: %v", lines(p))
	}
	usedIgnore := map[string]bool{}
	for _, l := range leaves {
		top := l.path[0].name
		for _, nilIt := range []bool{false, true} {
			if nilIt && !l.nilable {
				continue
			}
			name := l.String()
			if nilIt {
				name += " (nil)"
			}
			desired := filledState()
			mutate(reflect.ValueOf(desired).Elem(), l, nilIt)
			live := filledState()
			p := Diff(desired, liveState(live))
			if _, ok := notCompared[top]; !ok {
				top = l.String()
			}
			if why, ok := notCompared[top]; ok {
				usedIgnore[top] = true
				if len(p.Changes) != 0 {
					t.Errorf("%s: listed as not compared (%s), but Diff reports %v", name, why, lines(p))
				}
				continue
			}
			if len(p.Changes) == 0 {
				t.Errorf("%s: changing it changes nothing in the plan: compare it in the plan's field tables, or list it in notCompared with the reason", name)
			}
		}
	}
	for k := range notCompared {
		if !usedIgnore[k] {
			t.Errorf("notCompared lists %s, which is no field of NodeState", k)
		}
	}
}
