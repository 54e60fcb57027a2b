package model

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"strings"
)

// The types in this file mirror the YAML cluster description exactly as a
// user writes it. Optional settings are pointers so that "unset" (inherit a
// default) differs from an explicit zero (preempt: false). Defaults are not
// written back into these values: Desired resolves them per node, and a
// Cluster marshalled back to YAML (keepalived import) stays as concise as the
// input.

// Cluster is one whole HA cluster: its nodes, VIP groups (VRRP virtual
// routers), LVS virtual services and the checks they track. A description
// may be split over several files; Decode merges them.
type Cluster struct {
	// Name of the cluster (free text, used in logs and metrics).
	Name string `yaml:"cluster,omitempty" json:"cluster,omitempty"`
	// Defaults that VIP groups, services and checks inherit.
	Defaults *Defaults `yaml:"defaults,omitempty" json:"defaults,omitempty"`
	// Nodes keyed by node name (normally the hostname).
	Nodes map[string]*Node `yaml:"nodes,omitempty" json:"nodes,omitempty"`
	// Checks are tracked checks for VRRP (keepalived's vrrp_script), keyed by name.
	Checks map[string]*TrackCheck `yaml:"checks,omitempty" json:"checks,omitempty"`
	// VIPGroups keyed by group name; each is one VRRP virtual router.
	VIPGroups map[string]*VIPGroup `yaml:"vipGroups,omitempty" json:"vipGroups,omitempty"`
	// SyncGroups keyed by name: VIP groups that fail over together.
	SyncGroups map[string]*SyncGroup `yaml:"syncGroups,omitempty" json:"syncGroups,omitempty"`
	// Spread sets keyed by name: VIP groups whose node preference orders
	// are computed so masters are balanced across nodes.
	Spread map[string]*SpreadSet `yaml:"spread,omitempty" json:"spread,omitempty"`
	// Services keyed by name: LVS virtual services.
	Services map[string]*Service `yaml:"services,omitempty" json:"services,omitempty"`
	// BGP is the routers nodes announce bgp groups' VIPs to (model/bgp.go).
	BGP *BGP `yaml:"bgp,omitempty" json:"bgp,omitempty"`

	// Sources records where each field was written, for error messages.
	// It is filled by Decode and is nil for a Cluster built in code.
	Sources Sources `yaml:"-" json:"-"`
}

// defaults returns the cluster's defaults section, or an empty one.
func (c *Cluster) defaults() *Defaults { return cmp.Or(c.Defaults, &Defaults{}) }

// Defaults holds cluster-wide settings inherited where a group, service or
// check leaves them unset.
type Defaults struct {
	VRRP    *VRRPSettings    `yaml:"vrrp,omitempty" json:"vrrp,omitempty"`
	Service *ServiceDefaults `yaml:"service,omitempty" json:"service,omitempty"`
	// Check is the default real-server health check of every service.
	Check *Check `yaml:"check,omitempty" json:"check,omitempty"`
	// ScriptUser is the unprivileged user notify hooks, tracked checks and
	// exec health checks run as (keepalived's script_user). Empty: the
	// daemon's own user.
	ScriptUser string `yaml:"scriptUser,omitempty" json:"scriptUser,omitempty"`
}

// VRRPSettings are the VRRP timers and behaviour a VIP group may set and
// Defaults.VRRP provides for all groups.
type VRRPSettings struct {
	// Version is the VRRP version: 3 (RFC 5798, default) or 2 (RFC 3768, IPv4 only).
	Version *int `yaml:"version,omitempty" json:"version,omitempty"`
	// AdvertInterval between adverts: v3 10ms..40.95s in 10ms steps, v2 1s..255s in whole seconds. Default 1s.
	AdvertInterval *Duration `yaml:"advertInterval,omitempty" json:"advertInterval,omitempty"`
	// Preempt lets a higher-priority backup take over from a lower master. Default true.
	Preempt *bool `yaml:"preempt,omitempty" json:"preempt,omitempty"`
	// PreemptDelay waits this long after start-up before preempting. Default 0.
	PreemptDelay *Duration `yaml:"preemptDelay,omitempty" json:"preemptDelay,omitempty"`
	// Unicast sends adverts to each peer node instead of multicast. Default false.
	Unicast *bool `yaml:"unicast,omitempty" json:"unicast,omitempty"`
	// GARP controls gratuitous ARP / unsolicited NA announcements on becoming master.
	GARP *GARPSettings `yaml:"garp,omitempty" json:"garp,omitempty"`
}

// GARPSettings tune the announcements a new master sends.
type GARPSettings struct {
	// Repeat is how many announcements make up one burst. Default 5.
	Repeat *int `yaml:"repeat,omitempty" json:"repeat,omitempty"`
	// Interval between announcements inside a burst. Default 0 (back to back).
	Interval *Duration `yaml:"interval,omitempty" json:"interval,omitempty"`
	// RefreshDelay sends a second burst this long after becoming master. Default 5s; 0 disables.
	RefreshDelay *Duration `yaml:"refreshDelay,omitempty" json:"refreshDelay,omitempty"`
}

// ServiceDefaults are inherited by every virtual service.
type ServiceDefaults struct {
	Scheduler   string       `yaml:"scheduler,omitempty" json:"scheduler,omitempty"`
	Forwarding  Forwarding   `yaml:"forwarding,omitempty" json:"forwarding,omitempty"`
	Protocol    Protocol     `yaml:"protocol,omitempty" json:"protocol,omitempty"`
	Drain       *bool        `yaml:"drain,omitempty" json:"drain,omitempty"`
	Persistence *Persistence `yaml:"persistence,omitempty" json:"persistence,omitempty"`
}

// Node is one machine of the cluster.
type Node struct {
	// Address VRRP speaks from (IPv4), and that identifies the node.
	Address string `yaml:"address" json:"address"`
	// Address6 is the node's IPv6 address, used as unicast peer address
	// for IPv6 groups (multicast IPv6 adverts use the link-local address).
	Address6 string `yaml:"address6,omitempty" json:"address6,omitempty"`
	// Interface VRRP runs on unless a group or override says otherwise.
	Interface string `yaml:"interface" json:"interface"`
	// Overrides per VIP group name, for this node only.
	Overrides map[string]*NodeOverride `yaml:"overrides,omitempty" json:"overrides,omitempty"`
}

// NodeOverride changes one VIP group's settings on one node.
type NodeOverride struct {
	Interface string `yaml:"interface,omitempty" json:"interface,omitempty"`
	Priority  *int   `yaml:"priority,omitempty" json:"priority,omitempty"`
}

// VIPGroup is one VRRP virtual router: a VRID, the VIPs it moves and the
// nodes that may hold them.
type VIPGroup struct {
	// Mode is vrrp (default) or bgp: every healthy member announces the
	// VIPs to the routers of the bgp section (model/bgp.go).
	Mode string `yaml:"mode,omitempty" json:"mode,omitempty"`
	// BGPPreference of a bgp group: med or asPath rank the members'
	// announcements by the group's preference order; none: ECMP.
	BGPPreference string `yaml:"bgpPreference,omitempty" json:"bgpPreference,omitempty"`
	// VRID of a vrrp group (a bgp group has none).
	VRID int `yaml:"vrid,omitempty" json:"vrid,omitempty"`
	// Interface overrides the nodes' interface for this group.
	Interface string `yaml:"interface,omitempty" json:"interface,omitempty"`
	VIPs      []VIP  `yaml:"vips" json:"vips"`
	// Nodes that may hold the VIPs, most preferred first. Priorities are
	// derived with even gaps. Exclusive with Priorities and with
	// membership in a spread set.
	Nodes []string `yaml:"nodes,omitempty" json:"nodes,omitempty"`
	// Priorities per node name (1-254; 255 only for the address owner).
	Priorities map[string]int `yaml:"priorities,omitempty" json:"priorities,omitempty"`

	VRRPSettings `yaml:",inline" json:",inline"`

	// Auth is VRRPv2 PASS authentication. Not allowed with version 3.
	Auth *Auth `yaml:"auth,omitempty" json:"auth,omitempty"`
	// TrackInterfaces lower the priority (or fault the group) when a link goes down.
	TrackInterfaces []TrackInterface `yaml:"trackInterfaces,omitempty" json:"trackInterfaces,omitempty"`
	// TrackChecks reference Cluster.Checks by name.
	TrackChecks []TrackCheckRef `yaml:"trackChecks,omitempty" json:"trackChecks,omitempty"`
	Notify      *Notify         `yaml:"notify,omitempty" json:"notify,omitempty"`
	// ConnectionSync runs the IPVS connection-sync daemon by this group's VRRP state.
	ConnectionSync *ConnectionSync `yaml:"connectionSync,omitempty" json:"connectionSync,omitempty"`
}

// VIP is one virtual address. In YAML it is either a plain string
// ("192.0.2.10/24") or a mapping with address, device and label.
type VIP struct {
	// Address with prefix length, e.g. 192.0.2.10/24 or 2001:db8::10/64.
	// Without a prefix: /32 or /128.
	Address string `yaml:"address" json:"address"`
	// Device puts the VIP on another interface than the group's.
	Device string `yaml:"device,omitempty" json:"device,omitempty"`
	// Label is the IPv4 address label (eth0:web).
	Label string `yaml:"label,omitempty" json:"label,omitempty"`
}

// Auth is VRRPv2 simple-password authentication. The secret never lives
// in Git: it is read at run time from a file or an environment variable.
type Auth struct {
	// Type is "pass" (the only type RFC 3768 still defines in practice).
	Type       string `yaml:"type" json:"type"`
	SecretFile string `yaml:"secretFile,omitempty" json:"secretFile,omitempty"`
	SecretEnv  string `yaml:"secretEnv,omitempty" json:"secretEnv,omitempty"`
}

// ReadSecret returns the PASS password: the environment variable
// SecretEnv or the contents of SecretFile without a trailing newline
// (validation lets exactly one be set).
func (a *Auth) ReadSecret() (string, error) {
	switch {
	case a.SecretEnv != "":
		if v := os.Getenv(a.SecretEnv); v != "" {
			return v, nil
		}
		return "", fmt.Errorf("VRRP auth secret: environment variable %s is empty", a.SecretEnv)
	case a.SecretFile != "":
		b, err := os.ReadFile(a.SecretFile)
		if err != nil {
			return "", fmt.Errorf("reading VRRP auth secret: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return "", errors.New("VRRP auth has neither secretEnv nor secretFile")
}

// TrackInterface watches a link. Weight 0 puts the group in FAULT while
// the link is down; otherwise the weight is added to the priority.
type TrackInterface struct {
	Interface string `yaml:"interface" json:"interface"`
	Weight    int    `yaml:"weight,omitempty" json:"weight,omitempty"`
}

// TrackCheckRef ties a group to a tracked check. Weight overrides the
// check's own weight when set.
type TrackCheckRef struct {
	Check  string `yaml:"check" json:"check"`
	Weight *int   `yaml:"weight,omitempty" json:"weight,omitempty"`
}

// TrackCheck is keepalived's vrrp_script: a command whose exit status
// moves a group's priority (weight ≠ 0) or faults it (weight 0).
type TrackCheck struct {
	Command  Command   `yaml:"command" json:"command"`
	Interval *Duration `yaml:"interval,omitempty" json:"interval,omitempty"` // default 2s
	Timeout  *Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`   // default = interval
	Rise     *int      `yaml:"rise,omitempty" json:"rise,omitempty"`         // default 1
	Fall     *int      `yaml:"fall,omitempty" json:"fall,omitempty"`         // default 1
	// Weight added to the priority while the check fails (negative) or
	// passes (positive), -253..253. 0: failure faults the group.
	Weight int    `yaml:"weight,omitempty" json:"weight,omitempty"`
	User   string `yaml:"user,omitempty" json:"user,omitempty"`
}

// Notify hooks run on VRRP transitions, with the group name, the new
// state and the priority appended as arguments.
type Notify struct {
	Master  Command   `yaml:"master,omitempty" json:"master,omitempty"`
	Backup  Command   `yaml:"backup,omitempty" json:"backup,omitempty"`
	Fault   Command   `yaml:"fault,omitempty" json:"fault,omitempty"`
	Stop    Command   `yaml:"stop,omitempty" json:"stop,omitempty"`
	Timeout *Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"` // default 10s
	User    string    `yaml:"user,omitempty" json:"user,omitempty"`
}

// SyncGroup makes VIP groups change state together.
type SyncGroup struct {
	Groups []string `yaml:"groups" json:"groups"`
	Notify *Notify  `yaml:"notify,omitempty" json:"notify,omitempty"`
}

// SpreadSet lets hakeeper choose the node order of several VIP groups so
// that each node is master of a fair share, and a failed node's groups
// spread evenly over the survivors.
type SpreadSet struct {
	Groups []string `yaml:"groups" json:"groups"`
	Nodes  []string `yaml:"nodes" json:"nodes"`
}

// Service is one LVS virtual service: a VIP, port and protocol, or a
// firewall mark.
type Service struct {
	// VIP is an address (without prefix) of one of the VIP groups.
	VIP      string   `yaml:"vip,omitempty" json:"vip,omitempty"`
	Port     int      `yaml:"port,omitempty" json:"port,omitempty"`
	Protocol Protocol `yaml:"protocol,omitempty" json:"protocol,omitempty"` // default tcp
	// FWMark selects packets by firewall mark instead of VIP and port.
	FWMark int `yaml:"fwmark,omitempty" json:"fwmark,omitempty"`
	// Family of a fwmark service: ipv4 (default) or ipv6.
	Family Family `yaml:"family,omitempty" json:"family,omitempty"`
	// Group ties a fwmark service to the VIP group whose nodes program
	// it. Without it every node programs the service. Derived for VIP services.
	Group string `yaml:"group,omitempty" json:"group,omitempty"`
	// Match is the traffic a fwmark service's nodes mark (nftables rules
	// hakeeper keeps). Without it the mark is set outside hakeeper.
	Match []MarkMatch `yaml:"match,omitempty" json:"match,omitempty"`

	Scheduler      string       `yaml:"scheduler,omitempty" json:"scheduler,omitempty"` // default wlc
	SchedulerFlags []string     `yaml:"schedulerFlags,omitempty" json:"schedulerFlags,omitempty"`
	Forwarding     Forwarding   `yaml:"forwarding,omitempty" json:"forwarding,omitempty"` // default nat
	Persistence    *Persistence `yaml:"persistence,omitempty" json:"persistence,omitempty"`
	// Quorum is the minimum total weight of healthy real servers; below
	// it the sorry server replaces the set. Default 1.
	Quorum      *int        `yaml:"quorum,omitempty" json:"quorum,omitempty"`
	SorryServer *RealServer `yaml:"sorryServer,omitempty" json:"sorryServer,omitempty"`
	// Drain sets a failed server's weight to 0 instead of removing it, so
	// existing connections finish (keepalived's inhibit_on_failure).
	Drain *bool `yaml:"drain,omitempty" json:"drain,omitempty"`
	// StartDown: servers start down until their first check passes (keepalived's alpha).
	StartDown   *bool        `yaml:"startDown,omitempty" json:"startDown,omitempty"`
	Check       *Check       `yaml:"check,omitempty" json:"check,omitempty"`
	RealServers []RealServer `yaml:"realServers" json:"realServers"`
}

// Persistence keeps a client on the same real server.
type Persistence struct {
	Timeout Duration `yaml:"timeout" json:"timeout"`
	// Netmask groups clients: an IPv4 mask (255.255.255.0) or an IPv6
	// prefix length (64). Default: the host (255.255.255.255 / 128).
	Netmask string `yaml:"netmask,omitempty" json:"netmask,omitempty"`
}

// RealServer is one backend of a virtual service.
type RealServer struct {
	Address string `yaml:"address,omitempty" json:"address,omitempty"`
	// Node names a node of the cluster instead of an address: the entry
	// uses its address (address6 for an IPv6 service), and with dr or tun
	// forwarding hakeeper sets that node up as a real server.
	Node string `yaml:"node,omitempty" json:"node,omitempty"`
	// Port defaults to the service's port; must be unset for fwmark services with dr/tun.
	Port   int  `yaml:"port,omitempty" json:"port,omitempty"`
	Weight *int `yaml:"weight,omitempty" json:"weight,omitempty"` // default 1
	// UpperThreshold / LowerThreshold: connection limits (0: none).
	UpperThreshold int `yaml:"upperThreshold,omitempty" json:"upperThreshold,omitempty"`
	LowerThreshold int `yaml:"lowerThreshold,omitempty" json:"lowerThreshold,omitempty"`
	// Check overrides the service's check for this server only.
	Check *Check `yaml:"check,omitempty" json:"check,omitempty"`
}

// Check is a real-server health check: common timing settings plus
// exactly one type-specific block.
type Check struct {
	Interval *Duration `yaml:"interval,omitempty" json:"interval,omitempty"` // default 5s
	Timeout  *Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`   // default 3s
	// Retries before a single check attempt counts as failed. Default 1.
	Retries *int `yaml:"retries,omitempty" json:"retries,omitempty"`
	// Rise consecutive passes bring a server up; Fall consecutive failures take it down. Defaults 1 and 1.
	Rise *int `yaml:"rise,omitempty" json:"rise,omitempty"`
	Fall *int `yaml:"fall,omitempty" json:"fall,omitempty"`
	// Port connects to another port than the real server's.
	Port int `yaml:"port,omitempty" json:"port,omitempty"`

	TCP   *TCPCheck  `yaml:"tcp,omitempty" json:"tcp,omitempty"`
	HTTP  *HTTPCheck `yaml:"http,omitempty" json:"http,omitempty"`
	HTTPS *HTTPCheck `yaml:"https,omitempty" json:"https,omitempty"`
	Exec  *ExecCheck `yaml:"exec,omitempty" json:"exec,omitempty"`
	UDP   *UDPCheck  `yaml:"udp,omitempty" json:"udp,omitempty"`
	DNS   *DNSCheck  `yaml:"dns,omitempty" json:"dns,omitempty"`
	// None disables checking: the server is always up.
	None *NoCheck `yaml:"none,omitempty" json:"none,omitempty"`
}

// TCPCheck passes when a TCP connection is accepted.
type TCPCheck struct{}

// NoCheck turns checking off.
type NoCheck struct{}

// HTTPCheck GETs a path over HTTP or HTTPS.
type HTTPCheck struct {
	Path string `yaml:"path,omitempty" json:"path,omitempty"` // default /
	// Status codes that pass: codes and ranges, [200, 301-302]. Default 200.
	Status StatusCodes `yaml:"status,omitempty" json:"status,omitempty"`
	// Body passes only when the body contains this substring.
	Body string `yaml:"body,omitempty" json:"body,omitempty"`
	// BodyRegex passes only when the body matches (RE2).
	BodyRegex string `yaml:"bodyRegex,omitempty" json:"bodyRegex,omitempty"`
	// Host is the virtual host (Host header).
	Host string `yaml:"host,omitempty" json:"host,omitempty"`
	// SNI server name for HTTPS; default Host.
	SNI                string `yaml:"sni,omitempty" json:"sni,omitempty"`
	InsecureSkipVerify bool   `yaml:"insecureSkipVerify,omitempty" json:"insecureSkipVerify,omitempty"`
}

// ExecCheck runs a command; exit status 0 passes. The server's address and
// port are appended as arguments.
type ExecCheck struct {
	Command Command `yaml:"command" json:"command"`
	User    string  `yaml:"user,omitempty" json:"user,omitempty"`
}

// UDPCheck sends a payload; it passes on a reply (matching Expect when
// set) or, with no Expect and no reply, when no ICMP error came back.
type UDPCheck struct {
	Payload string `yaml:"payload,omitempty" json:"payload,omitempty"`
	Expect  string `yaml:"expect,omitempty" json:"expect,omitempty"`
	// RequireReply fails when nothing comes back. Default false.
	RequireReply bool `yaml:"requireReply,omitempty" json:"requireReply,omitempty"`
}

// DNSCheck sends a query and passes on a NOERROR answer.
type DNSCheck struct {
	Name string `yaml:"name" json:"name"`
	Type string `yaml:"type,omitempty" json:"type,omitempty"` // default A
}
