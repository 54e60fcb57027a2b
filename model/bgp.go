package model

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"
)

// A VIP group with mode bgp is not a VRRP virtual router: every healthy
// member announces its VIPs to the routers of the bgp section as host
// routes (/32, /128), and the routers spread flows over the members
// (ECMP). With preference med or asPath the members announce with
// attributes that follow the group's preference order, so the routers
// send everything to the most preferred healthy member (active/backup
// without a shared L2 segment).

// Group modes.
const (
	ModeVRRP = "vrrp"
	ModeBGP  = "bgp"
)

// BGP preferences of a bgp group's announcements.
const (
	PreferenceECMP   = ""       // all members equal
	PreferenceMED    = "med"    // MED = rank in the preference order
	PreferenceASPath = "asPath" // the local ASN prepended rank times
)

// BGP defaults. The timers are FRR's datacenter profile: the RFC's 90 s
// hold time keeps a crashed director's routes far too long for a load
// balancer, and BFD is opt-in because the router must run it too.
const (
	DefaultBGPHoldTime   = 9 * time.Second
	DefaultBFDInterval   = 300 * time.Millisecond
	DefaultBFDMultiplier = 3
	DefaultBGPDrainTime  = 5 * time.Second
	// MinBGPHoldTime is RFC 4271's smallest hold time other than 0.
	MinBGPHoldTime = 3 * time.Second
	MinBFDInterval = 10 * time.Millisecond
	// ECMPScheduler is the default scheduler of a bgp group's services:
	// Maglev hashing gives every director the same choice of real server
	// for a flow, so a flow the routers move keeps its server.
	ECMPScheduler = "mh"
)

// BGP is the cluster's BGP setup: the routers nodes announce bgp groups'
// VIPs to.
type BGP struct {
	// ASN is the nodes' autonomous system number.
	ASN   int       `yaml:"asn" json:"asn"`
	Peers []BGPPeer `yaml:"peers" json:"peers"`
	// HoldTime of the sessions (0 or 3s..65535s; default 9s) and
	// Keepalive (default a third of the hold time); peers may override.
	HoldTime  *Duration `yaml:"holdTime,omitempty" json:"holdTime,omitempty"`
	Keepalive *Duration `yaml:"keepalive,omitempty" json:"keepalive,omitempty"`
	// BFD for every peer unless the peer sets its own.
	BFD *BFDSettings `yaml:"bfd,omitempty" json:"bfd,omitempty"`
	// DrainTime: on a graceful stop the VIPs are withdrawn first, and
	// the node keeps serving this long before IPVS goes. Default 5s.
	DrainTime *Duration `yaml:"drainTime,omitempty" json:"drainTime,omitempty"`
	// WithdrawOnSourceLoss withdraws the VIPs while the description's
	// source cannot be fetched. Default false: a source outage does not
	// take traffic away.
	WithdrawOnSourceLoss *bool `yaml:"withdrawOnSourceLoss,omitempty" json:"withdrawOnSourceLoss,omitempty"`
}

// BGPPeer is one router.
type BGPPeer struct {
	Address string `yaml:"address" json:"address"`
	ASN     int    `yaml:"asn" json:"asn"`
	// PasswordFile holds the TCP-MD5 password (RFC 2385); like the VRRP
	// auth secret it never lives in Git.
	PasswordFile string       `yaml:"passwordFile,omitempty" json:"passwordFile,omitempty"`
	HoldTime     *Duration    `yaml:"holdTime,omitempty" json:"holdTime,omitempty"`
	Keepalive    *Duration    `yaml:"keepalive,omitempty" json:"keepalive,omitempty"`
	BFD          *BFDSettings `yaml:"bfd,omitempty" json:"bfd,omitempty"`
	// Nodes that peer with this router; default every node of a bgp group.
	Nodes []string `yaml:"nodes,omitempty" json:"nodes,omitempty"`
}

// BFDSettings turn BFD on for a session: a packet every Interval both
// ways, the session down after Multiplier intervals without one.
type BFDSettings struct {
	Interval   *Duration `yaml:"interval,omitempty" json:"interval,omitempty"`
	Multiplier *int      `yaml:"multiplier,omitempty" json:"multiplier,omitempty"`
}

// BGPState is a node's part of the BGP setup.
type BGPState struct {
	ASN      uint32     `json:"asn"`
	RouterID netip.Addr `json:"routerID"`
	// Peers sorted by address.
	Peers []BGPPeerSpec `json:"peers"`
	// Groups are the bgp groups this node is a member of, sorted by name.
	Groups               []BGPGroup    `json:"groups"`
	DrainTime            time.Duration `json:"drainTime"`
	WithdrawOnSourceLoss bool          `json:"withdrawOnSourceLoss"`
}

// BGPPeerSpec is a resolved peer.
type BGPPeerSpec struct {
	Address netip.Addr `json:"address"`
	ASN     uint32     `json:"asn"`
	// LocalAddress is the node's address of the peer's family.
	LocalAddress netip.Addr    `json:"localAddress"`
	PasswordFile string        `json:"passwordFile,omitempty"`
	HoldTime     time.Duration `json:"holdTime"`
	Keepalive    time.Duration `json:"keepalive"`
	// BFDInterval is 0 without BFD.
	BFDInterval   time.Duration `json:"bfdInterval,omitempty"`
	BFDMultiplier int           `json:"bfdMultiplier,omitempty"`
}

// ReadPassword returns the TCP-MD5 password ("" without one).
func (p BGPPeerSpec) ReadPassword() (string, error) {
	if p.PasswordFile == "" {
		return "", nil
	}
	b, err := os.ReadFile(p.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("reading the BGP password of peer %s: %w", p.Address, err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// BGPGroup is a bgp group as this node announces it.
type BGPGroup struct {
	Name string `json:"name"`
	// VIPs as host prefixes, sorted.
	VIPs []netip.Prefix `json:"vips"`
	// Services are the group's virtual services (NodeState.Services):
	// the VIPs are announced only while each has its quorum.
	Services []string `json:"services,omitempty"`
	// TrackChecks name NodeState.Checks: any failing withdraws the VIPs.
	TrackChecks []string `json:"trackChecks,omitempty"`
	// MED and Prepend rank this node's announcements (0 for ECMP).
	MED     uint32 `json:"med"`
	Prepend int    `json:"prepend"`
}

// bgpGroup reports whether a group announces over BGP.
func bgpGroup(g *VIPGroup) bool { return g != nil && g.Mode == ModeBGP }

// ---- validation ----

// bgp checks the bgp section and the bgp groups.
func (v *validator) bgp() {
	b := v.c.BGP
	var groups []string
	for _, name := range sortedKeys(v.c.VIPGroups) {
		g := v.c.VIPGroups[name]
		if g == nil {
			continue
		}
		p := "vipGroups." + name
		switch g.Mode {
		case "", ModeVRRP:
			if g.BGPPreference != "" {
				v.errorf(p+".bgpPreference", "only a group with mode bgp has bgpPreference")
			}
			continue
		case ModeBGP:
		default:
			v.errorf(p+".mode", "unknown mode %q: want vrrp or bgp%s", g.Mode, didYouMean(g.Mode, []string{ModeVRRP, ModeBGP}))
			continue
		}
		groups = append(groups, name)
		switch g.BGPPreference {
		case PreferenceECMP, PreferenceMED, PreferenceASPath:
		default:
			v.errorf(p+".bgpPreference", "unknown preference %q: want med or asPath (or none for ECMP)%s", g.BGPPreference, didYouMean(g.BGPPreference, []string{PreferenceMED, PreferenceASPath}))
		}
		if g.VRID != 0 {
			v.errorf(p+".vrid", "a bgp group has no VRID: it is not a VRRP virtual router")
		}
		for field, set := range map[string]bool{
			"version": g.Version != nil, "advertInterval": g.AdvertInterval != nil, "preempt": g.Preempt != nil,
			"preemptDelay": g.PreemptDelay != nil, "unicast": g.Unicast != nil, "garp": g.GARP != nil,
			"auth": g.Auth != nil, "trackInterfaces": len(g.TrackInterfaces) > 0, "notify": g.Notify != nil,
			"interface": g.Interface != "", "connectionSync": g.ConnectionSync != nil,
		} {
			if set {
				v.errorf(p+"."+field, "%s is a VRRP setting; group %q has mode bgp", field, name)
			}
		}
		if v.spreadOf[name] != "" {
			v.errorf(p, "group %q has mode bgp and cannot be in spread set %q: every member announces it", name, v.spreadOf[name])
		}
		if v.syncOf[name] != "" {
			v.errorf(p, "group %q has mode bgp and cannot be in sync group %q: sync groups are VRRP's", name, v.syncOf[name])
		}
		for i, vip := range g.VIPs {
			if pfx, msg := checkVIPAddress(vip.Address); msg == "" && !pfx.IsSingleIP() {
				v.errorf(fmt.Sprintf("%s.vips[%d]", p, i), "%s: a bgp group announces host routes; write %s/%d", vip.Address, pfx.Addr(), pfx.Addr().BitLen())
			}
			if vip.Device != "" || vip.Label != "" {
				v.errorf(fmt.Sprintf("%s.vips[%d]", p, i), "a bgp group's VIPs go on %s; device and label are VRRP's", LoopbackDevice)
			}
		}
		if v.family(name) == IPv6 && b != nil && !slices.ContainsFunc(b.Peers, func(p BGPPeer) bool { return strings.Contains(p.Address, ":") }) {
			v.errorf(p+".vips", "group %q has IPv6 VIPs but no bgp peer has an IPv6 address: IPv6 routes are announced over IPv6 sessions", name)
		}
	}
	if b == nil {
		if len(groups) > 0 {
			v.errorf("vipGroups."+groups[0]+".mode", "group %q has mode bgp but the description has no bgp section (asn and peers)", groups[0])
		}
		return
	}
	if b.ASN < 1 || b.ASN > 1<<32-1 {
		v.errorf("bgp.asn", "ASN %d is out of range 1-4294967295", b.ASN)
	}
	v.bgpTimers("bgp", b.HoldTime, b.Keepalive)
	v.bfd("bgp.bfd", b.BFD)
	v.nonNegativeDuration("bgp.drainTime", b.DrainTime)
	if len(b.Peers) == 0 {
		v.errorf("bgp.peers", "at least one peer (router) is required")
	}
	seen := map[netip.Addr]int{}
	for i, peer := range b.Peers {
		p := fmt.Sprintf("bgp.peers[%d]", i)
		if a, msg := parseHost(peer.Address); msg != "" {
			v.errorf(p+".address", "%s", msg)
		} else if j, dup := seen[a]; dup {
			v.errorf(p+".address", "peer %s is also at %s", a, v.where(fmt.Sprintf("bgp.peers[%d]", j)))
		} else {
			seen[a] = i
			if node, own := v.nodeAddr[a]; own {
				v.errorf(p+".address", "%s is the address of node %q, not a router", a, node)
			}
			if a.Is6() {
				for _, name := range v.peerNodes(peer) {
					if n := v.c.Nodes[name]; n != nil && n.Address6 == "" {
						v.errorf(p+".address", "IPv6 peer %s needs an address6 on node %q to open the session from", a, name)
					}
				}
			}
		}
		if peer.ASN < 1 || peer.ASN > 1<<32-1 {
			v.errorf(p+".asn", "ASN %d is out of range 1-4294967295", peer.ASN)
		}
		if peer.PasswordFile != "" && !strings.HasPrefix(peer.PasswordFile, "/") {
			v.errorf(p+".passwordFile", "%q is a relative path: write it absolute (the daemon does not run beside the description)", peer.PasswordFile)
		}
		v.printableField(p+".passwordFile", peer.PasswordFile)
		v.bgpTimers(p, peer.HoldTime, peer.Keepalive)
		v.bfd(p+".bfd", peer.BFD)
		listRefs(v, p+".nodes", "node", "no node %q", peer.Nodes, v.c.Nodes, nil)
	}
	// A member without a router would announce to nobody.
	for _, name := range groups {
		g := v.c.VIPGroups[name]
		for _, m := range v.members(name, g) {
			if !slices.ContainsFunc(b.Peers, func(p BGPPeer) bool { return len(p.Nodes) == 0 || slices.Contains(p.Nodes, m) }) {
				v.errorf("vipGroups."+name+".nodes", "node %q is a member of bgp group %q but no bgp peer lists it in nodes: it would announce to no router", m, name)
			}
		}
	}
}

// peerNodes are the nodes that open a session to peer.
func (v *validator) peerNodes(peer BGPPeer) []string {
	if len(peer.Nodes) > 0 {
		return peer.Nodes
	}
	var out []string
	for _, name := range sortedKeys(v.c.VIPGroups) {
		if g := v.c.VIPGroups[name]; bgpGroup(g) {
			out = append(out, v.members(name, g)...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (v *validator) bgpTimers(p string, hold, keepalive *Duration) {
	if hold != nil && *hold != 0 {
		switch d := hold.D(); {
		case d < MinBGPHoldTime || d > 65535*time.Second:
			v.errorf(p+".holdTime", "hold time %s is out of range 3s-65535s (or 0: no keepalives)", hold)
		case d%time.Second != 0:
			v.errorf(p+".holdTime", "hold time %s is not whole seconds (BGP's unit)", hold)
		}
	}
	if keepalive != nil {
		switch d := keepalive.D(); {
		case d < time.Second || d%time.Second != 0:
			v.errorf(p+".keepalive", "keepalive %s must be whole seconds, at least 1s", keepalive)
		case hold != nil && *hold != 0 && d*3 > hold.D():
			v.errorf(p+".keepalive", "keepalive %s is more than a third of the hold time %s: one lost keepalive would drop the session", keepalive, hold)
		}
	}
}

func (v *validator) bfd(p string, b *BFDSettings) {
	if b == nil {
		return
	}
	v.durationFloor(p+".interval", b.Interval, MinBFDInterval)
	if m := b.Multiplier; m != nil && (*m < 1 || *m > 255) {
		v.errorf(p+".multiplier", "multiplier %d is out of range 1-255", *m)
	}
}

// bgpWarnings warns about a bgp group's service whose scheduler picks a
// real server per connection: when the routers move a flow to another
// director (the director set changed), that director picks anew and the
// connection breaks.
func (v *validator) bgpWarnings() {
	sd := cmp.Or(v.c.defaults().Service, &ServiceDefaults{})
	for _, name := range sortedKeys(v.c.Services) {
		s := v.c.Services[name]
		if s == nil {
			continue
		}
		group := v.serviceGroup(s)
		if !bgpGroup(v.c.VIPGroups[group]) {
			continue
		}
		if sched := cmp.Or(s.Scheduler, sd.Scheduler, ECMPScheduler); !slices.Contains([]string{"mh", "sh", "dh"}, sched) {
			path := "services." + name + ".scheduler"
			if s.Scheduler == "" {
				path = "defaults.service.scheduler"
			}
			v.errorf(path, "scheduler %s picks a real server per connection: when the routers move a flow of bgp group %q to another director (a director came or went), it lands on another real server and breaks; use mh", sched, group)
		}
	}
}

// serviceGroup is the VIP group owning a service: its group, or the one
// whose VIPs hold its VIP.
func (v *validator) serviceGroup(s *Service) string {
	a, _ := netip.ParseAddr(s.VIP)
	return cmp.Or(v.vipOwner[a].group, s.Group)
}

// defaultScheduler is a service's built-in scheduler: mh on a bgp
// group's VIPs, wlc elsewhere.
func (v *validator) defaultScheduler(s *Service) string {
	if bgpGroup(v.c.VIPGroups[v.serviceGroup(s)]) {
		return ECMPScheduler
	}
	return DefaultScheduler
}

// ---- resolution ----

// bgpState is the node's part of the BGP setup; nil when it is in no
// bgp group.
func (r *resolver) bgpState(st *NodeState) *BGPState {
	b := r.c.BGP
	var groups []BGPGroup
	for _, name := range sortedKeys(r.c.VIPGroups) {
		g := r.c.VIPGroups[name]
		if !bgpGroup(g) {
			continue
		}
		order := r.preference(name)
		rank := slices.Index(order, r.nodeName)
		if rank < 0 {
			continue
		}
		bg := BGPGroup{Name: name}
		switch g.BGPPreference {
		case PreferenceMED:
			bg.MED = uint32(rank)
		case PreferenceASPath:
			bg.Prepend = rank
		}
		for _, a := range r.v.groupAddr[name] {
			bg.VIPs = append(bg.VIPs, netip.PrefixFrom(a, a.BitLen()))
		}
		slices.SortFunc(bg.VIPs, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
		for _, vs := range st.Services {
			if vs.Group == name {
				bg.Services = append(bg.Services, vs.Name)
			}
		}
		for _, t := range g.TrackChecks {
			bg.TrackChecks = append(bg.TrackChecks, t.Check)
		}
		groups = append(groups, bg)
	}
	if len(groups) == 0 || b == nil {
		return nil
	}
	out := &BGPState{
		ASN: uint32(b.ASN), RouterID: st.Address, Groups: groups,
		DrainTime:            first(DefaultBGPDrainTime, (*time.Duration)(b.DrainTime)),
		WithdrawOnSourceLoss: first(false, b.WithdrawOnSourceLoss),
	}
	for _, p := range b.Peers {
		if len(p.Nodes) > 0 && !slices.Contains(p.Nodes, r.nodeName) {
			continue
		}
		a, _ := netip.ParseAddr(p.Address)
		spec := BGPPeerSpec{Address: a, ASN: uint32(p.ASN), LocalAddress: st.Address, PasswordFile: p.PasswordFile}
		if a.Is6() {
			spec.LocalAddress = st.Address6
		}
		spec.HoldTime = first(DefaultBGPHoldTime, (*time.Duration)(cmp.Or(p.HoldTime, b.HoldTime)))
		spec.Keepalive = first(spec.HoldTime/3, (*time.Duration)(cmp.Or(p.Keepalive, b.Keepalive)))
		if bfd := cmp.Or(p.BFD, b.BFD); bfd != nil {
			spec.BFDInterval = first(DefaultBFDInterval, (*time.Duration)(bfd.Interval))
			spec.BFDMultiplier = first(DefaultBFDMultiplier, bfd.Multiplier)
		}
		out.Peers = append(out.Peers, spec)
	}
	slices.SortFunc(out.Peers, func(a, b BGPPeerSpec) int { return a.Address.Compare(b.Address) })
	return out
}

// preference is a group's members, most preferred first.
func (r *resolver) preference(name string) []string {
	prios := r.priorities[name]
	return slices.SortedFunc(maps.Keys(prios), func(a, b string) int { return cmp.Or(cmp.Compare(prios[b], prios[a]), cmp.Compare(a, b)) })
}

// bgpDirector adds what a bgp group's director needs on its kernel to
// the real-server role, whose path already keeps host addresses on the
// loopback and sysctls: the VIPs on lo (IPVS takes only packets for
// local addresses), and sloppy TCP/SCTP, so IPVS takes up a connection
// it did not see start when the routers move a flow here from another
// director.
func (r *resolver) bgpDirector(st *NodeState) {
	if st.BGP == nil {
		return
	}
	role := st.RealServer
	if role == nil {
		role = &RealServerRole{VIPs: []RealServerVIP{}, Sysctls: []Sysctl{}}
	}
	for _, g := range st.BGP.Groups {
		for _, p := range g.VIPs {
			if !slices.ContainsFunc(role.VIPs, func(o RealServerVIP) bool { return o.Prefix == p && o.Device == LoopbackDevice }) {
				role.VIPs = append(role.VIPs, RealServerVIP{Prefix: p, Device: LoopbackDevice, Services: slices.Clone(g.Services)})
			}
		}
	}
	slices.SortFunc(role.VIPs, func(a, b RealServerVIP) int {
		return cmp.Or(a.Prefix.Addr().Compare(b.Prefix.Addr()), cmp.Compare(a.Device, b.Device))
	})
	if slices.ContainsFunc(st.BGP.Groups, func(g BGPGroup) bool { return len(g.Services) > 0 }) {
		role.Sysctls = append(role.Sysctls, Sysctl{"net.ipv4.vs.sloppy_sctp", "1"}, Sysctl{"net.ipv4.vs.sloppy_tcp", "1"})
		slices.SortFunc(role.Sysctls, func(a, b Sysctl) int { return cmp.Compare(a.Name, b.Name) })
	}
	st.RealServer = role
}

// JSON writes the durations as strings ("9s"), like state_json.go's types.
func (p BGPPeerSpec) MarshalJSON() ([]byte, error)  { return json.Marshal(p.jsonView()) }
func (p *BGPPeerSpec) UnmarshalJSON(b []byte) error { return json.Unmarshal(b, p.jsonView()) }
func (s BGPState) MarshalJSON() ([]byte, error)     { return json.Marshal(s.jsonView()) }
func (s *BGPState) UnmarshalJSON(b []byte) error    { return json.Unmarshal(b, s.jsonView()) }

func (p *BGPPeerSpec) jsonView() any {
	type plain BGPPeerSpec
	return &struct {
		*plain
		HoldTime    *Duration `json:"holdTime"`
		Keepalive   *Duration `json:"keepalive"`
		BFDInterval *Duration `json:"bfdInterval"`
	}{(*plain)(p), (*Duration)(&p.HoldTime), (*Duration)(&p.Keepalive), (*Duration)(&p.BFDInterval)}
}

func (s *BGPState) jsonView() any {
	type plain BGPState
	return &struct {
		*plain
		DrainTime *Duration `json:"drainTime"`
	}{(*plain)(s), (*Duration)(&s.DrainTime)}
}
