package model

import (
	"encoding/json"
	"reflect"
	"sync"
	"time"
)

// NodeState keeps time.Duration, which its consumers compute with, but
// people read its JSON (`show --json`, the daemon's /config), so each type
// of it with a duration field writes that field as Duration does ("500ms",
// "5m") and reads back either form (earlier releases wrote nanoseconds).
// The methods go through a twin struct type with the same fields, tags and
// order, Duration in place of time.Duration: the output differs only in
// the durations, and a duration field added later is covered.

func (i Instance) MarshalJSON() ([]byte, error)        { return marshalDurations(i) }
func (i *Instance) UnmarshalJSON(b []byte) error       { return unmarshalDurations(b, i) }
func (n NotifySpec) MarshalJSON() ([]byte, error)      { return marshalDurations(n) }
func (n *NotifySpec) UnmarshalJSON(b []byte) error     { return unmarshalDurations(b, n) }
func (g GARPSpec) MarshalJSON() ([]byte, error)        { return marshalDurations(g) }
func (g *GARPSpec) UnmarshalJSON(b []byte) error       { return unmarshalDurations(b, g) }
func (c TrackCheckSpec) MarshalJSON() ([]byte, error)  { return marshalDurations(c) }
func (c *TrackCheckSpec) UnmarshalJSON(b []byte) error { return unmarshalDurations(b, c) }
func (s VirtualService) MarshalJSON() ([]byte, error)  { return marshalDurations(s) }
func (s *VirtualService) UnmarshalJSON(b []byte) error { return unmarshalDurations(b, s) }
func (c CheckSpec) MarshalJSON() ([]byte, error)       { return marshalDurations(c) }
func (c *CheckSpec) UnmarshalJSON(b []byte) error      { return unmarshalDurations(b, c) }

var (
	timeDurationType = reflect.TypeFor[time.Duration]()
	durationType     = reflect.TypeFor[Duration]()
	durationTwins    sync.Map // struct type → *twinType
)

// twinType is a struct type like another's exported fields (those JSON
// sees), with Duration for each time.Duration. It has no methods, so
// encoding it does not call back into the MarshalJSON above.
type twinType struct {
	typ reflect.Type
	// from[i] is the index in the original type of the twin's field i.
	from []int
}

func durationTwin(t reflect.Type) *twinType {
	if twin, ok := durationTwins.Load(t); ok {
		return twin.(*twinType)
	}
	tw := &twinType{}
	var fields []reflect.StructField
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		if f.Type == timeDurationType {
			f.Type = durationType
		}
		fields = append(fields, reflect.StructField{Name: f.Name, Type: f.Type, Tag: f.Tag, Anonymous: f.Anonymous})
		tw.from = append(tw.from, i)
	}
	tw.typ = reflect.StructOf(fields)
	durationTwins.Store(t, tw)
	return tw
}

// toTwin copies v's fields into a new twin value.
func (tw *twinType) toTwin(v reflect.Value) reflect.Value {
	twin := reflect.New(tw.typ)
	for i, j := range tw.from {
		setField(twin.Elem().Field(i), v.Field(j))
	}
	return twin
}

// fromTwin copies the twin's fields back into v.
func (tw *twinType) fromTwin(v, twin reflect.Value) {
	for i, j := range tw.from {
		setField(v.Field(j), twin.Field(i))
	}
}

// setField sets dst to src, converting between time.Duration and Duration.
func setField(dst, src reflect.Value) {
	if src.Type() == dst.Type() {
		dst.Set(src)
	} else {
		dst.SetInt(src.Int())
	}
}

func marshalDurations(v any) ([]byte, error) {
	src := reflect.ValueOf(v)
	return json.Marshal(durationTwin(src.Type()).toTwin(src).Interface())
}

// unmarshalDurations decodes b into *ptr through the twin, starting from
// *ptr's current fields as encoding/json does.
func unmarshalDurations(b []byte, ptr any) error {
	dst := reflect.ValueOf(ptr).Elem()
	tw := durationTwin(dst.Type())
	twin := tw.toTwin(dst)
	if err := json.Unmarshal(b, twin.Interface()); err != nil {
		return err
	}
	tw.fromTwin(dst, twin.Elem())
	return nil
}
