package model

import (
	"net/netip"
	"time"
)

// The types in this file are one node's desired state: the cluster
// description resolved for that node, with every default applied and every
// reference followed. The VRRP engine, the IPVS programmer, the renderers
// and the reconciler consume only these; none of them re-reads Cluster.
// All slices are sorted (by Name, or by address for VIPs and real servers)
// so two states of the same cluster compare equal field by field.

// VRRPState is a VRRP instance state.
type VRRPState string

const (
	StateInit   VRRPState = "init"
	StateBackup VRRPState = "backup"
	StateMaster VRRPState = "master"
	StateFault  VRRPState = "fault"
)

// NodeState is everything one node must run.
type NodeState struct {
	Cluster string `json:"cluster"`
	Node    string `json:"node"`
	// Address and Interface of the node itself.
	Address   netip.Addr `json:"address"`
	Address6  netip.Addr `json:"address6,omitzero"`
	Interface string     `json:"interface"`

	// Instances are the VRRP virtual routers this node takes part in, sorted by Name.
	Instances []Instance `json:"instances"`
	// Services are the IPVS virtual services this node programs, sorted by Name.
	Services []VirtualService `json:"services"`
	// Checks are the tracked (VRRP) checks this node runs, sorted by Name.
	Checks []TrackCheckSpec `json:"checks"`
	// SyncGroups this node takes part in, sorted by Name.
	SyncGroups []SyncGroupSpec `json:"syncGroups"`
	// RealServer is the node's part as a real server of the services
	// naming it; nil when none does.
	RealServer *RealServerRole `json:"realServer,omitempty"`
	// BGP is the node's part in bgp groups; nil when in none.
	BGP *BGPState `json:"bgp,omitempty"`
	// ConnectionSync is the node's IPVS connection-sync daemon; nil when
	// no group of the node sets connectionSync.
	ConnectionSync *ConnectionSyncSpec `json:"connectionSync,omitempty"`
}

// Instance is one VRRP virtual router on this node.
type Instance struct {
	// Name is the VIP group's name. The engine matches instances by Key,
	// not Name, so a rename changes nothing on the wire.
	Name      string `json:"name"`
	VRID      uint8  `json:"vrid"`
	Interface string `json:"interface"`
	Family    Family `json:"family"`
	Version   int    `json:"version"`
	// Priority on this node (1-255) before tracking adjustments.
	Priority uint8 `json:"priority"`
	// InitialState is backup unless the node owns the addresses (priority 255).
	InitialState VRRPState `json:"initialState"`
	// Preference is every candidate node with its priority, highest first;
	// it lets `show` and the status explain who takes over next.
	Preference []NodePriority `json:"preference"`

	AdvertInterval time.Duration `json:"advertInterval"`
	Preempt        bool          `json:"preempt"`
	PreemptDelay   time.Duration `json:"preemptDelay"`

	// Unicast: send adverts to Peers and accept only from them.
	Unicast bool `json:"unicast"`
	// SourceAddress is this node's address in the instance's family for
	// unicast (zero for IPv6 multicast: the link-local address is used).
	SourceAddress netip.Addr   `json:"sourceAddress,omitzero"`
	Peers         []netip.Addr `json:"peers,omitempty"`

	VIPs []VIPSpec `json:"vips"`
	// Auth is set for VRRPv2 PASS authentication.
	Auth *Auth `json:"auth,omitempty"`

	TrackInterfaces []TrackInterface `json:"trackInterfaces,omitempty"`
	// TrackChecks name entries of NodeState.Checks with the weight in force.
	TrackChecks []TrackedCheck `json:"trackChecks,omitempty"`
	Notify      NotifySpec     `json:"notify"`
	// SyncGroup is the name of the sync group the instance belongs to, if any.
	SyncGroup string   `json:"syncGroup,omitempty"`
	GARP      GARPSpec `json:"garp"`
}

// InstanceKey identifies a VRRP instance on the wire.
type InstanceKey struct {
	Interface string
	Family    Family
	VRID      uint8
}

// Key returns the instance's identity on the wire.
func (i *Instance) Key() InstanceKey {
	return InstanceKey{Interface: i.Interface, Family: i.Family, VRID: i.VRID}
}

// NodePriority is one candidate node of a VIP group.
type NodePriority struct {
	Node     string `json:"node"`
	Priority uint8  `json:"priority"`
}

// VIPSpec is one virtual address with the device it goes on.
type VIPSpec struct {
	Prefix netip.Prefix `json:"prefix"`
	// Device is the interface the address is added to (the instance's
	// interface unless the VIP names another).
	Device string `json:"device"`
	Label  string `json:"label,omitempty"`
}

// TrackedCheck ties an instance to a check with the weight in force.
type TrackedCheck struct {
	Check  string `json:"check"`
	Weight int    `json:"weight"`
}

// NotifySpec holds the resolved notify hooks.
type NotifySpec struct {
	Master  Command       `json:"master,omitzero"`
	Backup  Command       `json:"backup,omitzero"`
	Fault   Command       `json:"fault,omitzero"`
	Stop    Command       `json:"stop,omitzero"`
	Timeout time.Duration `json:"timeout"`
	User    string        `json:"user,omitempty"`
}

// HasHooks reports whether any hook is set: Timeout and User have
// defaults, so they do not count.
func (n NotifySpec) HasHooks() bool {
	return !n.Master.IsZero() || !n.Backup.IsZero() || !n.Fault.IsZero() || !n.Stop.IsZero()
}

// GARPSpec is the resolved announcement behaviour.
type GARPSpec struct {
	Repeat       int           `json:"repeat"`
	Interval     time.Duration `json:"interval"`
	RefreshDelay time.Duration `json:"refreshDelay"`
}

// TrackCheckSpec is a resolved tracked check.
type TrackCheckSpec struct {
	Name     string        `json:"name"`
	Command  Command       `json:"command"`
	Interval time.Duration `json:"interval"`
	Timeout  time.Duration `json:"timeout"`
	Rise     int           `json:"rise"`
	Fall     int           `json:"fall"`
	Weight   int           `json:"weight"`
	User     string        `json:"user,omitempty"`
}

// SyncGroupSpec is a resolved sync group.
type SyncGroupSpec struct {
	Name      string     `json:"name"`
	Instances []string   `json:"instances"`
	Notify    NotifySpec `json:"notify"`
}

// VirtualService is a resolved IPVS virtual service.
type VirtualService struct {
	Name string `json:"name"`
	// Group is the VIP group owning the service ("" for a fwmark service
	// without a group, which every node programs).
	Group    string     `json:"group,omitempty"`
	Family   Family     `json:"family"`
	Address  netip.Addr `json:"address,omitzero"` // zero for fwmark services
	Port     uint16     `json:"port,omitempty"`
	Protocol Protocol   `json:"protocol,omitempty"` // empty for fwmark services
	FWMark   uint32     `json:"fwmark,omitempty"`
	// Match is the traffic the node marks with FWMark (fwmark services).
	Match []MarkRule `json:"match,omitempty"`

	Scheduler      string     `json:"scheduler"`
	SchedulerFlags []string   `json:"schedulerFlags,omitempty"` // sorted
	Forwarding     Forwarding `json:"forwarding"`
	// Persistence is 0 when not persistent.
	Persistence time.Duration `json:"persistence,omitempty"`
	// PersistenceMask is the client netmask as a prefix length (32 or 128 when unset).
	PersistenceMask int `json:"persistenceMask,omitempty"`

	Quorum      int              `json:"quorum"`
	SorryServer *RealServerSpec  `json:"sorryServer,omitempty"`
	Drain       bool             `json:"drain"`
	StartDown   bool             `json:"startDown"`
	RealServers []RealServerSpec `json:"realServers"` // sorted by address, then port
}

// RealServerSpec is a resolved real server.
type RealServerSpec struct {
	Address        netip.Addr `json:"address"`
	Port           uint16     `json:"port,omitempty"`
	Weight         int        `json:"weight"`
	UpperThreshold uint32     `json:"upperThreshold,omitempty"`
	LowerThreshold uint32     `json:"lowerThreshold,omitempty"`
	// Check is nil when the server is not checked (always up).
	Check *CheckSpec `json:"check,omitempty"`
}

// CheckSpec is a resolved health check: timing plus exactly one of the
// type blocks (copied from the description, defaults applied).
type CheckSpec struct {
	Type     string        `json:"type"` // tcp, http, https, exec, udp, dns
	Interval time.Duration `json:"interval"`
	Timeout  time.Duration `json:"timeout"`
	Retries  int           `json:"retries"`
	Rise     int           `json:"rise"`
	Fall     int           `json:"fall"`
	// Port to connect to (the real server's unless the check names one).
	Port uint16 `json:"port"`

	HTTP *HTTPCheck `json:"http,omitempty"` // for http and https
	Exec *ExecCheck `json:"exec,omitempty"`
	UDP  *UDPCheck  `json:"udp,omitempty"`
	DNS  *DNSCheck  `json:"dns,omitempty"`
	// User for exec checks after defaults.scriptUser is applied.
	User string `json:"user,omitempty"`
}
