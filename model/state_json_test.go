package model

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Every node's state of the fixtures survives JSON (show --json, the
// daemon's /config read back by `hakeeper plan`) unchanged, and its
// durations are written as people write them.
func TestNodeStateJSONRoundTrip(t *testing.T) {
	paths, err := filepath.Glob("testdata/valid/*.yaml")
	if err != nil || len(paths) < 3 {
		t.Fatalf("fixtures: %v %v", paths, err)
	}
	for _, p := range paths {
		c, err := Load([]File{readFixture(t, p)})
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		for node := range c.Nodes {
			ns, err := Desired(c, node)
			if err != nil {
				t.Fatalf("%s %s: %v", p, node, err)
			}
			b, err := json.Marshal(ns)
			if err != nil {
				t.Fatalf("%s %s: %v", p, node, err)
			}
			var back NodeState
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("%s %s: %v\n%s", p, node, err, b)
			}
			if !reflect.DeepEqual(&back, ns) {
				t.Errorf("%s %s: JSON round trip changed the state\nwant %+v\n got %+v", p, node, ns, &back)
			}
		}
	}

	c, err := Load([]File{readFixture(t, "testdata/valid/full.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := Desired(c, "lb1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(ns)
	var raw struct {
		Instances []map[string]any `json:"instances"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	for _, inst := range raw.Instances {
		if inst["name"] == "web" && inst["advertInterval"] != "100ms" {
			t.Errorf("web advertInterval in JSON = %#v, want \"100ms\"", inst["advertInterval"])
		}
	}
}

// Each type of the node state with a time.Duration field writes it as a
// duration string and reads it back: a field added later without joining
// its type's MarshalJSON shadow fields fails here.
func TestNodeStateJSONDurationFields(t *testing.T) {
	durationType := reflect.TypeFor[time.Duration]()
	seen := map[reflect.Type]bool{}
	var withDurations []reflect.Type
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] {
			return
		}
		seen[t] = true
		has := false
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Type == durationType {
				has = true
			}
			walk(f.Type)
		}
		if has {
			withDurations = append(withDurations, t)
		}
	}
	walk(reflect.TypeFor[NodeState]())
	if len(withDurations) < 6 {
		t.Fatalf("found only %v with durations", withDurations)
	}
	for _, typ := range withDurations {
		v := reflect.New(typ).Elem()
		n := 0
		for i := range typ.NumField() {
			if typ.Field(i).Type == durationType {
				v.Field(i).SetInt(int64(1500 * time.Millisecond))
				n++
			}
		}
		b, err := json.Marshal(v.Interface())
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if got := strings.Count(string(b), `:"1.5s"`); got != n || strings.Contains(string(b), "1500000000") {
			t.Errorf("%s: %d duration fields, %d written as \"1.5s\": %s", typ, n, got, b)
		}
		back := reflect.New(typ)
		if err := json.Unmarshal(b, back.Interface()); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if !reflect.DeepEqual(back.Elem().Interface(), v.Interface()) {
			t.Errorf("%s: read back as %+v, want %+v", typ, back.Elem(), v)
		}
	}
}

// A daemon of an earlier release serves durations as nanoseconds; plan
// still reads them.
func TestNodeStateJSONReadsNanoseconds(t *testing.T) {
	var inst Instance
	if err := json.Unmarshal([]byte(`{"name":"web","advertInterval":500000000,"preemptDelay":"2s","garp":{"refreshDelay":5000000000}}`), &inst); err != nil {
		t.Fatal(err)
	}
	if inst.Name != "web" || inst.AdvertInterval != 500*time.Millisecond || inst.PreemptDelay != 2*time.Second || inst.GARP.RefreshDelay != 5*time.Second {
		t.Errorf("read %+v", inst)
	}
	for _, bad := range []string{`{"advertInterval":"fast"}`, `{"advertInterval":1.5}`, `{"advertInterval":true}`} {
		if err := json.Unmarshal([]byte(bad), &inst); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestDurationJSONCompact(t *testing.T) {
	for d, want := range map[time.Duration]string{
		5 * time.Minute: `"5m"`, 90 * time.Minute: `"1h30m"`, 100 * time.Millisecond: `"100ms"`, 0: `"0s"`,
	} {
		b, err := json.Marshal(Duration(d))
		if err != nil || string(b) != want {
			t.Errorf("%v marshals as %s (%v), want %s", d, b, err, want)
		}
		var back Duration
		if err := json.Unmarshal(b, &back); err != nil || back.D() != d {
			t.Errorf("%s reads back as %v (%v)", b, back.D(), err)
		}
	}
}
