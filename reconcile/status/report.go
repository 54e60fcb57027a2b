// Package status is the node controller's local HTTP interface: the
// /status report (JSON, and as a table for `hakeeper status`), /metrics
// for Prometheus, /healthz, /config (the running desired state, which
// `hakeeper plan` diffs against) and the Git webhook. It owns the report's
// JSON format, the server and its client; the controller fills the report.
package status

import (
	"time"
)

// Report is what /status returns. Its JSON form is read by `hakeeper
// status`, `hakeeper plan` and monitoring scripts: fields are only added.
type Report struct {
	Node    string `json:"node"`
	Cluster string `json:"cluster,omitempty"`
	// Source names where the description comes from (git URL and ref, or dir).
	Source string `json:"source"`
	// StateDir is the daemon's state directory (IPVS ownership, last
	// good revision): 'hakeeper plan' reads ownership from there.
	StateDir string `json:"stateDir,omitempty"`
	// Applied is the revision running now; Fetched the newest one seen
	// (they differ while a bad revision is refused).
	Applied *Revision `json:"applied,omitempty"`
	Fetched *Revision `json:"fetched,omitempty"`
	// LastReconcile is the most recent pass of the loop.
	LastReconcile *Pass `json:"lastReconcile,omitempty"`
	// LastError is the most recent failure (kept after later successes,
	// with its time, so an operator can see what was refused).
	LastError *Failure `json:"lastError,omitempty"`
	// Healthy is false while the newest revision could not be applied,
	// the last pass failed, or a VIP group needs an operator (split brain
	// suspected, or faulted because its advert cannot be encoded).
	Healthy   bool       `json:"healthy"`
	VIPGroups []VIPGroup `json:"vipGroups"`
	Services  []Service  `json:"services"`
	Drift     Drift      `json:"drift"`
	// Degraded says why Healthy is false ("" when healthy): the pass that
	// failed, the newer revision refused while the applied one keeps
	// serving, or each VIP group's SplitBrain or AdvertError.
	Degraded string `json:"degraded,omitempty"`
	// UnmanagedIPVS lists IPVS services in the kernel that hakeeper does
	// not own and does not want (made by hand or another tool): never
	// touched. ConflictingIPVS lists those whose key a desired service
	// wants but hakeeper does not own (left alone unless adopted).
	UnmanagedIPVS   []string `json:"unmanagedIPVS,omitempty"`
	ConflictingIPVS []string `json:"conflictingIPVS,omitempty"`
	// SyncDaemons are the kernel's IPVS connection-sync daemons now.
	SyncDaemons []SyncDaemon `json:"syncDaemons,omitempty"`

	// TrackChecks lists the tracked checks the VIP groups refer to.
	TrackChecks []TrackCheck `json:"trackChecks,omitempty"`

	// Rollout is the ordered rollout across the cluster (rollout.go).
	Rollout *Rollout `json:"rollout,omitempty"`

	// BGP is the node's BGP speaker; nil when the node is in no bgp group.
	BGP *BGP `json:"bgp,omitempty"`
}

// Revision identifies one version of the description.
type Revision struct {
	ID      string    `json:"id"`
	Summary string    `json:"summary,omitempty"`
	Time    time.Time `json:"time,omitzero"`
	// At is when it was applied (Applied) or fetched (Fetched).
	At time.Time `json:"at,omitzero"`
	// Refused marks a fetched revision the source would not deliver
	// (a force-push, an unsigned commit): LastError says why.
	Refused bool `json:"refused,omitempty"`
}

// Pass is one reconcile.
type Pass struct {
	Time time.Time `json:"time"`
	// Trigger is what started it: start, watch, webhook, signal, interval, health.
	Trigger string `json:"trigger"`
	// Result is applied, in-sync, repaired or error.
	Result   string        `json:"result"`
	Duration time.Duration `json:"durationNs"`
	// IPVSOperations is how many IPVS writes the pass made.
	IPVSOperations int `json:"ipvsOperations"`
	// VRRPApplied is set when the engine was given a new configuration.
	VRRPApplied bool `json:"vrrpApplied"`
}

// Failure is an error with the revision it concerns.
type Failure struct {
	Time time.Time `json:"time"`
	// Revision is the revision that failed ("" for a fetch that failed
	// before any revision was read).
	Revision string `json:"revision,omitempty"`
	// Stage is fetch, load (decode or validation), resolve or apply.
	Stage   string `json:"stage"`
	Message string `json:"message"`
}

// VIPGroup is one VRRP instance as the engine runs it.
type VIPGroup struct {
	Name         string    `json:"name"`
	Interface    string    `json:"interface"`
	Family       string    `json:"family"`
	VRID         uint8     `json:"vrid"`
	State        string    `json:"state"`
	Priority     uint8     `json:"priority"`
	BasePriority uint8     `json:"basePriority"`
	Master       string    `json:"master,omitempty"`
	Since        time.Time `json:"since,omitzero"`
	Reason       string    `json:"reason,omitempty"`
	Transitions  uint64    `json:"transitions"`
	AdvertsSent  uint64    `json:"advertsSent"`
	AdvertsRecv  uint64    `json:"advertsReceived"`
	VIPs         []VIP     `json:"vips"`
	// SplitBrain is set while adverts for the group's VRID from a router
	// configured otherwise (password, version, interval, non-peer) are
	// rejected: that router is a master this node does not obey. It says
	// how many, why and from whom.
	SplitBrain string `json:"splitBrain,omitempty"`
	// AdvertError is set while the group's advert cannot be encoded; the
	// group is faulted for it.
	AdvertError string `json:"advertError,omitempty"`
	// Tracks are the group's tracked interfaces and checks: why Priority
	// differs from BasePriority, or why the group is faulted.
	Tracks []Track `json:"tracks,omitempty"`
	// Candidates are the nodes that may hold the group, this one too
	// (status --cluster counts a silent one as unknown).
	Candidates []string `json:"candidates,omitempty"`
}

// Track is one tracked interface or check of a VIP group and what it
// does to the group now.
type Track struct {
	// Kind is interface or check.
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Up is true while the link is up or the check passes (after rise/fall).
	Up bool `json:"up"`
	// Weight is the weight in force; Contribution what it adds to the
	// priority now (Weight or 0; always 0 for an address owner).
	Weight       int `json:"weight"`
	Contribution int `json:"contribution"`
	// Fault is set while a weight-0 track is down: it faults the group.
	Fault bool `json:"fault,omitempty"`
	// Since is when Up last changed (or when tracking began).
	Since time.Time `json:"since,omitzero"`
	// LastRun and LastResult are the check's last run (checks only):
	// LastResult is pass, "exit N" or the error that stopped it running.
	LastRun    time.Time `json:"lastRun,omitzero"`
	LastResult string    `json:"lastResult,omitempty"`
}

// TrackCheck is one tracked check (keepalived's vrrp_script) as the
// engine runs it, once however many groups track it.
type TrackCheck struct {
	Name string `json:"name"`
	// Passing is the verdict the groups see; Since when it last changed.
	Passing bool      `json:"passing"`
	Since   time.Time `json:"since,omitzero"`
	Rise    int       `json:"rise"`
	Fall    int       `json:"fall"`
	// ConsecutiveOK and ConsecutiveFail count the latest run of equal
	// results (one of them is 0).
	ConsecutiveOK   int `json:"consecutiveOK"`
	ConsecutiveFail int `json:"consecutiveFail"`
	// RunsPassed, RunsFailed (exit status not 0) and RunsErrors (did not
	// start or timed out) count results since the check started.
	RunsPassed uint64    `json:"runsPassed"`
	RunsFailed uint64    `json:"runsFailed"`
	RunsErrors uint64    `json:"runsErrors"`
	LastRun    time.Time `json:"lastRun,omitzero"`
	LastResult string    `json:"lastResult,omitempty"`
	// Groups are the VIP groups tracking it.
	Groups []string `json:"groups"`
}

// VIP is one virtual address and whether it is on its device now.
type VIP struct {
	Address string `json:"address"`
	Device  string `json:"device"`
	Present bool   `json:"present"`
}

// Service is one IPVS virtual service with its real servers.
type Service struct {
	Name string `json:"name"`
	// Key is how IPVS knows it: tcp/192.0.2.10:80 or fwmark/ipv4/7.
	Key         string       `json:"key"`
	RealServers []RealServer `json:"realServers"`
}

// RealServer is one backend's health and programmed weight.
type RealServer struct {
	Address string `json:"address"`
	// Health is up, down or unchecked.
	Health     string        `json:"health"`
	Check      string        `json:"check,omitempty"`
	LastResult string        `json:"lastResult,omitempty"`
	LastCheck  time.Time     `json:"lastCheck,omitzero"`
	LastChange time.Time     `json:"lastChange,omitzero"`
	Latency    time.Duration `json:"latencyNs,omitempty"`
	// Weight is the weight programmed in IPVS; InIPVS is false when the
	// server is left out (down without drain, or replaced by the sorry server).
	Weight int  `json:"weight"`
	InIPVS bool `json:"inIPVS"`
	// Sorry marks the sorry server standing in for the set.
	Sorry bool `json:"sorry,omitempty"`
}

// Drift counts repairs of changes made behind hakeeper's back.
type Drift struct {
	VIPRepairs  uint64    `json:"vipRepairs"`
	IPVSRepairs uint64    `json:"ipvsRepairs"`
	Last        time.Time `json:"last,omitzero"`
	LastWhat    string    `json:"lastWhat,omitempty"`
}
