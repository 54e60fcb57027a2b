package model

import "encoding/json"

// NodeState keeps time.Duration, which its consumers compute with, but
// people read its JSON (`show --json`, the daemon's /config), so each type
// of it with a duration field writes that field through Duration ("500ms",
// "5m") and reads back either form (earlier releases wrote nanoseconds).
// Each such type has a JSON view: the type's own fields (through a
// method-less copy of the type), with its durations shadowed by *Duration
// fields of the same JSON names pointing at them.

func (i Instance) MarshalJSON() ([]byte, error)        { return json.Marshal(i.jsonView()) }
func (i *Instance) UnmarshalJSON(b []byte) error       { return json.Unmarshal(b, i.jsonView()) }
func (n NotifySpec) MarshalJSON() ([]byte, error)      { return json.Marshal(n.jsonView()) }
func (n *NotifySpec) UnmarshalJSON(b []byte) error     { return json.Unmarshal(b, n.jsonView()) }
func (g GARPSpec) MarshalJSON() ([]byte, error)        { return json.Marshal(g.jsonView()) }
func (g *GARPSpec) UnmarshalJSON(b []byte) error       { return json.Unmarshal(b, g.jsonView()) }
func (c TrackCheckSpec) MarshalJSON() ([]byte, error)  { return json.Marshal(c.jsonView()) }
func (c *TrackCheckSpec) UnmarshalJSON(b []byte) error { return json.Unmarshal(b, c.jsonView()) }
func (s VirtualService) MarshalJSON() ([]byte, error)  { return json.Marshal(s.jsonView()) }
func (s *VirtualService) UnmarshalJSON(b []byte) error { return json.Unmarshal(b, s.jsonView()) }
func (c CheckSpec) MarshalJSON() ([]byte, error)       { return json.Marshal(c.jsonView()) }
func (c *CheckSpec) UnmarshalJSON(b []byte) error      { return json.Unmarshal(b, c.jsonView()) }

func (i *Instance) jsonView() any {
	type plain Instance
	return &struct {
		*plain
		AdvertInterval *Duration `json:"advertInterval"`
		PreemptDelay   *Duration `json:"preemptDelay"`
	}{(*plain)(i), (*Duration)(&i.AdvertInterval), (*Duration)(&i.PreemptDelay)}
}

func (n *NotifySpec) jsonView() any {
	type plain NotifySpec
	return &struct {
		*plain
		Timeout *Duration `json:"timeout"`
	}{(*plain)(n), (*Duration)(&n.Timeout)}
}

func (g *GARPSpec) jsonView() any {
	type plain GARPSpec
	return &struct {
		*plain
		Interval     *Duration `json:"interval"`
		RefreshDelay *Duration `json:"refreshDelay"`
	}{(*plain)(g), (*Duration)(&g.Interval), (*Duration)(&g.RefreshDelay)}
}

func (c *TrackCheckSpec) jsonView() any {
	type plain TrackCheckSpec
	return &struct {
		*plain
		Interval *Duration `json:"interval"`
		Timeout  *Duration `json:"timeout"`
	}{(*plain)(c), (*Duration)(&c.Interval), (*Duration)(&c.Timeout)}
}

func (s *VirtualService) jsonView() any {
	type plain VirtualService
	return &struct {
		*plain
		// omitzero asks Duration.IsZero, as omitempty did of the field.
		Persistence *Duration `json:"persistence,omitzero"`
	}{(*plain)(s), (*Duration)(&s.Persistence)}
}

func (c *CheckSpec) jsonView() any {
	type plain CheckSpec
	return &struct {
		*plain
		Interval *Duration `json:"interval"`
		Timeout  *Duration `json:"timeout"`
	}{(*plain)(c), (*Duration)(&c.Interval), (*Duration)(&c.Timeout)}
}
