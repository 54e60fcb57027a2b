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
	durationTwins    sync.Map // struct type → its twin
)

// durationTwin returns a struct type like t (exported fields only, none
// embedded) with Duration for each time.Duration field. It has no
// methods, so encoding it does not call back into the MarshalJSON above.
func durationTwin(t reflect.Type) reflect.Type {
	if twin, ok := durationTwins.Load(t); ok {
		return twin.(reflect.Type)
	}
	fields := make([]reflect.StructField, t.NumField())
	for i := range fields {
		f := t.Field(i)
		fields[i] = reflect.StructField{Name: f.Name, Type: f.Type, Tag: f.Tag}
		if f.Type == timeDurationType {
			fields[i].Type = durationType
		}
	}
	twin := reflect.StructOf(fields)
	durationTwins.Store(t, twin)
	return twin
}

// copyFields copies src's fields into dst's by position, converting
// between time.Duration and Duration.
func copyFields(dst, src reflect.Value) {
	for i := range src.NumField() {
		if f := src.Field(i); f.Type() == dst.Field(i).Type() {
			dst.Field(i).Set(f)
		} else {
			dst.Field(i).SetInt(f.Int())
		}
	}
}

func marshalDurations(v any) ([]byte, error) {
	src := reflect.ValueOf(v)
	twin := reflect.New(durationTwin(src.Type())).Elem()
	copyFields(twin, src)
	return json.Marshal(twin.Interface())
}

// unmarshalDurations decodes b into *ptr through the twin, starting from
// *ptr's current fields as encoding/json does.
func unmarshalDurations(b []byte, ptr any) error {
	dst := reflect.ValueOf(ptr).Elem()
	twin := reflect.New(durationTwin(dst.Type()))
	copyFields(twin.Elem(), dst)
	if err := json.Unmarshal(b, twin.Interface()); err != nil {
		return err
	}
	copyFields(dst, twin.Elem())
	return nil
}
