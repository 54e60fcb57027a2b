// Package plan computes what must change on one node to reach its desired
// state: a Terraform-style list of creates, updates and deletes of VRRP
// instances, VIPs, IPVS virtual services and real servers. It is pure: the
// live state is passed in (see Live), and rendering the plan for people or
// machines belongs to the render package. The JSON form of Plan is the
// machine format of `hakeeper plan --json` and is kept stable.
package plan

import "encoding/json"

// FormatVersion is the version of the plan's JSON format. It changes only
// when a field is removed or changes meaning; new fields may appear.
const FormatVersion = 1

// Action is what a change does.
type Action string

const (
	Create Action = "create"
	Update Action = "update"
	Delete Action = "delete"
	// Note is informational (e.g. an IPVS service hakeeper does not own):
	// nothing is changed and it is not counted in the summary.
	Note Action = "note"
)

// Symbol is the one-character marker used in text output.
func (a Action) Symbol() string {
	switch a {
	case Create:
		return "+"
	case Update:
		return "~"
	case Delete:
		return "-"
	}
	return "#"
}

// Kind is the kind of object a change applies to.
type Kind string

const (
	KindInstance   Kind = "vrrp-instance"
	KindVIP        Kind = "vip"
	KindService    Kind = "service"
	KindRealServer Kind = "real-server"
	// KindSyncGroup is a sync group: its member instances and notify hooks.
	KindSyncGroup Kind = "sync-group"
	// KindTrackedCheck is a tracked check: the command the VRRP side runs
	// and its timers.
	KindTrackedCheck Kind = "tracked-check"
	// KindUnmanaged marks IPVS services present in the kernel that
	// hakeeper did not create; it leaves them alone.
	KindUnmanaged Kind = "unmanaged"
)

// FieldChange is one attribute of a change. For a create only New is set,
// for a delete only Old, for an update both (and only differing fields are
// listed). An empty string means "unset".
type FieldChange struct {
	Name string `json:"name"`
	Old  string `json:"old,omitempty"`
	New  string `json:"new,omitempty"`
}

// Change is one operation.
type Change struct {
	Action Action `json:"action"`
	Kind   Kind   `json:"kind"`
	// Group is the grouping key: the VIP group name for vrrp-instance and
	// vip changes, the service name for service and real-server changes,
	// the sync group's or tracked check's name for theirs.
	// Changes of one group are contiguous in Plan.Changes.
	Group string `json:"group"`
	// Name identifies the object for people: "vrid 51 on eth0 (ipv4)",
	// "192.0.2.10/24 on eth0", "tcp 192.0.2.10:80", "10.0.0.1:80".
	Name   string        `json:"name"`
	Fields []FieldChange `json:"fields,omitempty"`
}

// Plan is every change for one node, in a stable order: VRRP instances
// (desired order, then deletions), sync groups, tracked checks, fwmark
// rules, then services (likewise), each object followed by its children (VIPs, real
// servers).
type Plan struct {
	Node    string   `json:"node"`
	Changes []Change `json:"changes"`
}

// Summary counts the changes by action, as Terraform's "Plan: ..." line.
type Summary struct {
	Add     int `json:"add"`
	Change  int `json:"change"`
	Destroy int `json:"destroy"`
}

// Empty reports whether nothing would change.
func (s Summary) Empty() bool { return s.Add == 0 && s.Change == 0 && s.Destroy == 0 }

// Summary counts the plan's changes; notes are not counted.
func (p *Plan) Summary() Summary {
	var s Summary
	for i := range p.Changes {
		switch p.Changes[i].Action {
		case Create:
			s.Add++
		case Update:
			s.Change++
		case Delete:
			s.Destroy++
		}
	}
	return s
}

// HasChanges reports whether applying the plan would change anything.
func (p *Plan) HasChanges() bool { return !p.Summary().Empty() }

// MarshalJSON writes the machine format: the format version, the node,
// the summary and the changes, in that order. Changes is [] (not null)
// when empty so consumers need not special-case it.
func (p *Plan) MarshalJSON() ([]byte, error) {
	changes := p.Changes
	if changes == nil {
		changes = []Change{}
	}
	return json.Marshal(struct {
		FormatVersion int      `json:"formatVersion"`
		Node          string   `json:"node"`
		Summary       Summary  `json:"summary"`
		Changes       []Change `json:"changes"`
	}{FormatVersion, p.Node, p.Summary(), changes})
}
