package keepalived

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/hakeeper/hakeeper/model"
)

// fingerprint renders a value for comparison between nodes.
func fingerprint(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// differs warns when two nodes say different things about one object.
func (im *importer) differs(what string, a, b string, posA, posB model.Pos) {
	if a != b {
		im.warn(posB, "%s differs between nodes: %s here, %s at %s; imported as at %s", what, b, a, posA, posA)
	}
}

type groupAcc struct {
	name    string
	vrid    int
	family  model.Family
	members []*instConf
}

func (im *importer) merge() (*model.Cluster, error) {
	c := &model.Cluster{Name: cmp.Or(im.opts.Cluster, "imported")}
	im.mergeDefaults(c)
	var errs []error
	c.Nodes = map[string]*model.Node{}
	for _, n := range im.nodes {
		node, err := im.mergeNode(n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.Nodes[n.name] = node
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	im.mergeChecks(c)
	groups, groupOf := im.mergeGroups(c)
	im.mergeSyncGroups(c, groupOf)
	im.mergeConnSync(c, groupOf)
	if err := im.splitGroups(c, groups); err != nil {
		return nil, err
	}
	im.mergeServices(c)
	return c, nil
}

// mergeDefaults takes global_defs from the first node and warns where
// another node's differ.
func (im *importer) mergeDefaults(c *model.Cluster) {
	d := &model.Defaults{}
	version := kaVRRPVersion
	if len(im.nodes) > 0 {
		first := im.nodes[0]
		for _, n := range im.nodes[1:] {
			im.differs("global_defs vrrp_version", strconv.Itoa(first.vrrpVersion()), strconv.Itoa(n.vrrpVersion()), first.posOf("vrrp_version"), n.posOf("vrrp_version"))
			im.differs("global_defs vrrp_garp_*", fingerprint(first.garp), fingerprint(n.garp), first.posOf("vrrp_garp"), n.posOf("vrrp_garp"))
			im.differs("global_defs script_user", first.scriptUser, n.scriptUser, first.posOf("script_user"), n.posOf("script_user"))
		}
		version = first.vrrpVersion()
		if first.garp != (model.GARPSettings{}) {
			gs := first.garp
			d.VRRP = &model.VRRPSettings{GARP: &gs}
		}
		d.ScriptUser = first.scriptUser
	}
	if version != model.DefaultVRRPVersion {
		if d.VRRP == nil {
			d.VRRP = &model.VRRPSettings{}
		}
		d.VRRP.Version = &version
	}
	if d.VRRP != nil || d.ScriptUser != "" {
		c.Defaults = d
	}
}

// vrrpVersion is the node's global vrrp_version, or keepalived's default.
func (n *nodeConf) vrrpVersion() int {
	if n.version != nil {
		return *n.version
	}
	return kaVRRPVersion
}

// posOf is where the instance's keyword k was, or its file.
func (in *instConf) posOf(k string) model.Pos { return posOr(in.at[k], in.pos.File) }

func posOr(p model.Pos, file string) model.Pos {
	if p.File == "" {
		return model.Pos{File: file}
	}
	return p
}

func (im *importer) mergeNode(n *nodeConf) (*model.Node, error) {
	node := &model.Node{}
	// from4 and from6 name the keyword each address came from.
	var from4, from6 string
	count := map[string]int{}
	for _, in := range n.instances {
		count[in.iface]++
		// The most used interface; ties go to the smaller name so the
		// result does not depend on the order of the instances.
		if c, best := count[in.iface], count[node.Interface]; node.Interface == "" || c > best || c == best && in.iface < node.Interface {
			node.Interface = in.iface
		}
		src, kw := in.srcAddr()
		if !src.IsValid() {
			continue
		}
		addr, from := &node.Address, &from4
		if src.Is6() {
			addr, from = &node.Address6, &from6
		}
		if *addr == "" {
			*addr, *from = src.String(), kw
		} else if *addr != src.String() {
			im.warn(in.at[kw], "vrrp_instance %s: %s %s differs from %s used by another instance of node %s; using %s", in.name, kw, src, *addr, n.name, *addr)
		}
	}
	for _, a := range im.opts.Addresses[n.name] {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			return nil, fmt.Errorf("--address %s=%s: not an IP address", n.name, a)
		}
		addr, from := &node.Address, from4
		if ip.Is6() {
			addr, from = &node.Address6, from6
		}
		if *addr != "" && *addr != ip.String() {
			im.warn(model.Pos{File: n.path}, "node %s: --address %s overrides %s %s", n.name, ip, from, *addr)
		}
		*addr = ip.String()
	}
	if node.Address == "" {
		return nil, noAddressError(n, node)
	}
	if node.Interface == "" {
		return nil, fmt.Errorf("%s: node %s has no vrrp_instance, so its interface is unknown", n.path, n.name)
	}
	return node, nil
}

// noAddressError says which address of a node is missing and how to
// give it.
func noAddressError(n *nodeConf, node *model.Node) error {
	if node.Address6 != "" {
		return fmt.Errorf("%s: node %s: IPv4 address unknown: its keepalived.conf states only the IPv6 address %s, and hakeeper needs the node's IPv4 address too; pass --address %s=IPv4", n.path, n.name, node.Address6, n.name)
	}
	return fmt.Errorf("%s: node %s: address unknown: no vrrp_instance has unicast_src_ip or mcast_src_ip (keepalived then uses the interface's first address); pass --address %s=IPv4", n.path, n.name, n.name)
}

func (im *importer) mergeChecks(c *model.Cluster) {
	first := map[string]*scriptConf{}
	for _, n := range im.nodes {
		for _, s := range n.scripts {
			if f := first[s.name]; f != nil {
				im.differs("vrrp_script "+s.name, fingerprint(f.check), fingerprint(s.check), f.pos, s.pos)
				continue
			}
			first[s.name] = s
			if c.Checks == nil {
				c.Checks = map[string]*model.TrackCheck{}
			}
			tc := s.check
			c.Checks[s.name] = &tc
		}
	}
}

// mergeGroups matches instances across nodes by VRID and family (and
// interface where a node has two), builds the VIP groups and returns them
// and the group name of every node's instance name.
func (im *importer) mergeGroups(c *model.Cluster) ([]*groupAcc, map[*nodeConf]map[string]string) {
	var groups []*groupAcc
	groupOf := map[*nodeConf]map[string]string{}
	for _, n := range im.nodes {
		groupOf[n] = map[string]string{}
		for _, in := range n.instances {
			var match *groupAcc
			for _, g := range groups {
				if g.vrid != in.vrid || g.family != in.family || slices.ContainsFunc(g.members, func(m *instConf) bool { return m.node == n }) {
					continue
				}
				if match == nil || g.members[0].iface == in.iface && match.members[0].iface != in.iface {
					match = g
				}
			}
			if match == nil {
				match = &groupAcc{name: in.name, vrid: in.vrid, family: in.family}
				groups = append(groups, match)
			}
			match.members = append(match.members, in)
		}
	}
	// A renamed group takes no name another group has: one already given,
	// or an instance's own name still to come (a router named VI_1-2).
	used, taken := map[string]bool{}, map[string]bool{}
	for _, g := range groups {
		taken[g.name] = true
	}
	for _, g := range groups {
		if used[g.name] {
			g.name = freeName(fmt.Sprintf("%s-%d", g.name, g.vrid), taken)
			taken[g.name] = true
		}
		used[g.name] = true
		for _, m := range g.members {
			groupOf[m.node][m.name] = g.name
		}
	}
	c.VIPGroups = map[string]*model.VIPGroup{}
	for _, g := range groups {
		c.VIPGroups[g.name] = im.buildGroup(c, g)
	}
	return groups, groupOf
}

func vipList(v []model.VIP) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = x.Address
		if x.Device != "" {
			s[i] += " dev " + x.Device
		}
		if x.Label != "" {
			s[i] += " label " + x.Label
		}
	}
	return unordered(s)
}

// unordered lists items sorted, so lists that differ only in order
// compare equal.
func unordered(items []string) string {
	slices.Sort(items)
	return "[" + strings.Join(items, ", ") + "]"
}

func (im *importer) buildGroup(c *model.Cluster, g *groupAcc) *model.VIPGroup {
	f := g.members[0]
	vg := &model.VIPGroup{VRID: g.vrid, VIPs: f.vips, Priorities: map[string]int{}}
	vg.VRRPSettings = f.settings
	where := "vipGroups." + g.name
	for _, m := range g.members {
		if m.name != f.name {
			im.warn(m.pos, "%s: instance name %s differs from %s at %s; the group is named %s", where, m.name, f.name, f.pos, g.name)
		}
		vg.Priorities[m.node.name] = m.priority
		if m == f {
			continue
		}
		im.differs(where+": virtual_ipaddress", vipList(f.vips), vipList(m.vips), f.posOf("virtual_ipaddress"), m.posOf("virtual_ipaddress"))
		im.differs(where+": advert_int", durStr(f.settings.AdvertInterval, "1s"), durStr(m.settings.AdvertInterval, "1s"), f.posOf("advert_int"), m.posOf("advert_int"))
		im.differs(where+": version", fingerprint(f.settings.Version), fingerprint(m.settings.Version), f.posOf("version"), m.posOf("version"))
		im.differs(where+": nopreempt", fingerprint(f.settings.Preempt), fingerprint(m.settings.Preempt), f.posOf("nopreempt"), m.posOf("nopreempt"))
		im.differs(where+": preempt_delay", fingerprint(f.settings.PreemptDelay), fingerprint(m.settings.PreemptDelay), f.posOf("preempt_delay"), m.posOf("preempt_delay"))
		im.differs(where+": unicast", fingerprint(f.settings.Unicast), fingerprint(m.settings.Unicast), f.posOf("unicast_peer"), m.posOf("unicast_peer"))
		im.differs(where+": garp", fingerprint(f.settings.GARP), fingerprint(m.settings.GARP), f.pos, m.pos)
		im.differs(where+": authentication type", fingerprint(f.auth), fingerprint(m.auth), f.posOf("authentication"), m.posOf("authentication"))
		if f.authPass != m.authPass {
			// The passwords themselves are not shown: warnings are shared.
			im.warn(m.posOf("auth_pass"), "%s: auth_pass differs between nodes (here and at %s); imported as at %s", where, f.posOf("auth_pass"), f.posOf("auth_pass"))
		}
		im.differs(where+": track_script", fingerprint(f.tracks), fingerprint(m.tracks), f.posOf("track_script"), m.posOf("track_script"))
		im.differs(where+": track_interface", fingerprint(f.trackIfs), fingerprint(m.trackIfs), f.posOf("track_interface"), m.posOf("track_interface"))
		im.differs(where+": notify scripts", fingerprint(f.notify), fingerprint(m.notify), f.posOf("notify"), m.posOf("notify"))
	}
	if g.family == model.IPv6 && vg.Version == nil && c.Defaults != nil && c.Defaults.VRRP != nil && c.Defaults.VRRP.Version != nil && *c.Defaults.VRRP.Version == 2 {
		// keepalived runs IPv6 instances as VRRPv3 whatever vrrp_version says.
		vg.Version = new(3)
	}
	// Interface: unset when every member uses its node's interface, else
	// the group's when all members use one, else a node override each.
	oneIface := !slices.ContainsFunc(g.members, func(m *instConf) bool { return m.iface != f.iface })
	for _, m := range g.members {
		node := c.Nodes[m.node.name]
		switch {
		case node.Interface == m.iface:
		case oneIface:
			vg.Interface = f.iface
		default:
			if node.Overrides == nil {
				node.Overrides = map[string]*model.NodeOverride{}
			}
			node.Overrides[g.name] = &model.NodeOverride{Interface: m.iface}
		}
	}
	if f.auth != nil {
		vg.Auth = &model.Auth{Type: f.auth.Type, SecretFile: filepath.Join(im.opts.SecretDir, g.name+".pass")}
		im.warn(f.posOf("auth_pass"), "%s: the VRRP password was not copied into the cluster description; write it to %s on every node (mode 0600)", where, vg.Auth.SecretFile)
	}
	for _, t := range f.tracks {
		if c.Checks[t.Check] == nil {
			im.warn(f.posOf("track_script"), "%s: track_script %s names no vrrp_script (keepalived ignores it; dropped)", where, t.Check)
			continue
		}
		vg.TrackChecks = append(vg.TrackChecks, t)
	}
	vg.TrackInterfaces = f.trackIfs
	vg.Notify = f.notify
	if f.notify != nil && (!f.notify.Master.IsZero() || !f.notify.Backup.IsZero() || !f.notify.Fault.IsZero()) {
		im.warn(f.posOf("notify"), "%s: hakeeper calls notify hooks with the group name, state and priority appended as arguments; keepalived's notify_* passed none", where)
	}
	// Unicast peers should be the other members' addresses.
	known := map[netip.Addr]string{}
	for name, n := range c.Nodes {
		for _, a := range []string{n.Address, n.Address6} {
			if ip, err := netip.ParseAddr(a); err == nil {
				known[ip] = name
			}
		}
	}
	for _, m := range g.members {
		for _, p := range m.peers {
			if _, ok := known[p]; !ok {
				im.warn(m.posOf("unicast_peer"), "%s: unicast_peer %s is not the address of any imported node (import that node's keepalived.conf too)", where, p)
			}
		}
	}
	return vg
}

func durStr(d *model.Duration, def string) string {
	if d == nil {
		return def
	}
	return d.String()
}

func (im *importer) mergeSyncGroups(c *model.Cluster, groupOf map[*nodeConf]map[string]string) {
	first := map[string]*syncConf{}
	for _, n := range im.nodes {
		for _, s := range n.syncs {
			var names []string
			for _, g := range s.groups {
				name, ok := groupOf[n][g]
				if !ok {
					im.warn(s.pos, "vrrp_sync_group %s: group member %s is no vrrp_instance of this node (dropped)", s.name, g)
					continue
				}
				names = append(names, name)
			}
			if f := first[s.name]; f != nil {
				im.differs("vrrp_sync_group "+s.name, fingerprint(c.SyncGroups[s.name].Groups), fingerprint(names), f.pos, s.pos)
				continue
			}
			first[s.name] = s
			if c.SyncGroups == nil {
				c.SyncGroups = map[string]*model.SyncGroup{}
			}
			c.SyncGroups[s.name] = &model.SyncGroup{Groups: names, Notify: s.notify}
		}
	}
}

func realServerList(s *model.Service) string {
	var out []string
	for _, r := range s.RealServers {
		e := r.Address
		if r.Port != 0 {
			e += ":" + strconv.Itoa(r.Port)
		}
		if r.Weight != nil {
			e += fmt.Sprintf(" weight %d", *r.Weight)
		}
		out = append(out, e)
	}
	return unordered(out)
}

func (im *importer) mergeServices(c *model.Cluster) {
	// Every node's virtual_server of one service, the services in the
	// order they first appear.
	byKey := map[string][]*vsConf{}
	var keys []string
	for _, n := range im.nodes {
		for _, v := range n.services {
			if byKey[v.key] == nil {
				keys = append(keys, v.key)
			}
			byKey[v.key] = append(byKey[v.key], v)
		}
	}
	for _, k := range keys {
		members := byKey[k]
		f := members[0]
		name := freeName(f.name, c.Services)
		where := "services." + name
		for _, m := range members[1:] {
			im.differs(where+": real servers", realServerList(f.svc), realServerList(m.svc), f.pos, m.pos)
			fs, ms := *f.svc, *m.svc
			fs.RealServers, ms.RealServers = nil, nil
			im.differs(where+": settings", fingerprint(fs), fingerprint(ms), f.pos, m.pos)
			if fingerprint(f.svc.RealServers) != fingerprint(m.svc.RealServers) && realServerList(f.svc) == realServerList(m.svc) {
				im.warn(m.pos, "%s: real server checks differ between nodes (here and at %s); imported as at %s", where, f.pos, f.pos)
			}
		}
		if f.svc.FWMark != 0 && len(members) < len(im.nodes) {
			im.fwmarkGroup(c, f, members, where)
		}
		if c.Services == nil {
			c.Services = map[string]*model.Service{}
		}
		c.Services[name] = f.svc
	}
}

// freeName is base, or else the first of base-2, base-3, ... that is
// not a key of taken.
func freeName[V any](base string, taken map[string]V) string {
	name := base
	for k := 2; ; k++ {
		if _, ok := taken[name]; !ok {
			return name
		}
		name = base + "-" + strconv.Itoa(k)
	}
}

// fwmarkGroup ties a fwmark service that only some nodes run to the VIP
// group with exactly those nodes; hakeeper would otherwise program it on
// every node.
func (im *importer) fwmarkGroup(c *model.Cluster, f *vsConf, members []*vsConf, where string) {
	var want []string
	for _, m := range members {
		want = append(want, m.node)
	}
	slices.Sort(want)
	want = slices.Compact(want)
	for _, name := range slices.Sorted(maps.Keys(c.VIPGroups)) {
		if slices.Equal(slices.Sorted(maps.Keys(c.VIPGroups[name].Priorities)), want) {
			f.svc.Group = name
			return
		}
	}
	im.warn(f.pos, "%s: only some nodes run this fwmark service and no VIP group has exactly those nodes: hakeeper will program it on every node", where)
}

// Marshal writes the imported description as YAML with a header saying
// where it came from, and validates it with model.Load so nothing
// invalid is ever written.
func Marshal(res *Result) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# Cluster description imported from keepalived.conf by `hakeeper import`:\n")
	for _, s := range res.Sources {
		fmt.Fprintf(&b, "#   %s: %s\n", s.Node, s.Path)
	}
	fmt.Fprintf(&b, "# Review the %d warning(s) the import printed; VRRP passwords were not copied.\n", len(res.Warnings))
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(res.Cluster); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	if _, err := model.Load([]model.File{{Name: "cluster.yaml", Data: b.Bytes()}}); err != nil {
		return nil, fmt.Errorf("the imported description is not valid:\n%w", err)
	}
	return b.Bytes(), nil
}
