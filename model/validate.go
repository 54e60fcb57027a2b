package model

import (
	"cmp"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Validate reports every semantic problem of a decoded cluster at once,
// sorted by place. Each error names where the offending value was written
// (from c.Sources; clusters built in code, with nil Sources, get errors
// with a path but no place).
func Validate(c *Cluster) ErrorList { return validate(c).errs }

// validate runs every check. Desired resolves a cluster with the indexes
// the validator built on the way, rather than building them again.
func validate(c *Cluster) *validator {
	if c == nil {
		return &validator{errs: ErrorList{{Msg: "no cluster description"}}}
	}
	v := &validator{
		c:         c,
		spreadOf:  map[string]string{},
		syncOf:    map[string]string{},
		vipOwner:  map[netip.Addr]ownedVIP{},
		groupAddr: map[string][]netip.Addr{},
		nodeAddr:  map[netip.Addr]string{},
	}
	v.names()
	v.nodes()
	v.trackChecks()
	v.defaults()
	v.spreadSets()
	v.syncGroups()
	v.vipGroups()
	v.ownAddresses()
	v.overrides()
	v.vridConflicts()
	v.services()
	v.bgp()
	v.connectionSync()

	v.errs.Sort()
	v.errs = slices.CompactFunc(v.errs, func(a, b *Error) bool { return *a == *b })
	return v
}

// validator holds what one check needs from another: which set each group
// belongs to, the VIPs each group owns and their family.
type validator struct {
	c    *Cluster
	errs ErrorList

	spreadOf  map[string]string // group → spread set
	syncOf    map[string]string // group → sync group
	vipOwner  map[netip.Addr]ownedVIP
	groupAddr map[string][]netip.Addr // a group's VIPs that parsed, in order
	nodeAddr  map[netip.Addr]string   // a node's address or address6 → the node
}

// ownedVIP is the group that moves a VIP and the VIP's entry in it, so
// that a duplicate points at that entry.
type ownedVIP struct{ group, path string }

// family is the family of a group's first VIP, "" when none parsed.
func (v *validator) family(group string) Family {
	if addrs := v.groupAddr[group]; len(addrs) > 0 {
		return familyOf(addrs[0])
	}
	return ""
}

func (v *validator) errorf(path, format string, args ...any) {
	pos := v.c.Sources.Lookup(path)
	if pos == (Pos{}) && v.c.Sources != nil {
		// Something missing altogether (no nodes section): name the file.
		pos = v.c.Sources[""]
	}
	v.errs = append(v.errs, &Error{Pos: pos, Path: printablePath(path), Msg: fmt.Sprintf(format, args...)})
}

// printablePath escapes what cannot be printed in a path (a name with a
// control character, refused by names), so the error stays one line.
func printablePath(path string) string {
	if unprintable(path) < 0 {
		return path
	}
	q := strconv.Quote(path)
	return q[1 : len(q)-1]
}

// where names the place of path for "also at" messages.
func (v *validator) where(path string) string {
	if p := v.c.Sources.Lookup(path).String(); p != "" {
		return p
	}
	return path
}

var (
	nodeNameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	// Linux interface names: at most 15 bytes, no slash, colon or space.
	ifaceNameRE = regexp.MustCompile(`^[^/:\s]{1,15}$`)
)

func checkIfaceName(name string) string {
	if !ifaceNameRE.MatchString(name) || name == "." || name == ".." || unprintable(name) >= 0 {
		return fmt.Sprintf("%q is not a valid interface name (1-15 printable characters, no '/', ':' or spaces)", name)
	}
	return ""
}

// ifaceName checks an interface name where one is set.
func (v *validator) ifaceName(path, name string) {
	if msg := checkIfaceName(name); name != "" && msg != "" {
		v.errorf(path, "%s", msg)
	}
}

// parseHost parses an address without prefix, rejecting zones and
// IPv4-mapped IPv6 forms that the kernel would treat differently.
func parseHost(s string) (netip.Addr, string) {
	if s == "" {
		return netip.Addr{}, "address is required"
	}
	if strings.Contains(s, "/") {
		return netip.Addr{}, fmt.Sprintf("%q: want an address without prefix length", s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Sprintf("%q is not an IP address", s)
	}
	return a, checkUsable(a, s)
}

func checkUsable(a netip.Addr, s string) string {
	switch {
	case a.Zone() != "":
		return fmt.Sprintf("%q: zones (%%%s) are not allowed", s, a.Zone())
	case a.Is4In6():
		return fmt.Sprintf("%q: write IPv4 addresses in IPv4 form (%s)", s, a.Unmap())
	case a.IsUnspecified(), a.IsMulticast(), a.IsLoopback():
		return fmt.Sprintf("%q is not a usable unicast address", s)
	}
	return ""
}

// parseDest parses a real or sorry server address: unlike other
// addresses it may be loopback, because IPVS delivers to addresses of
// the director itself (a maintenance page on 127.0.0.1).
func parseDest(s string) (netip.Addr, string) {
	a, msg := parseHost(s)
	if msg != "" && a.IsLoopback() && a.Zone() == "" && !a.Is4In6() {
		return a, ""
	}
	return a, msg
}

// ---- names ----

// names checks the names of every keyed entry and the cluster's: they
// appear in log lines, metrics labels, status output and notify
// arguments, where a control character or an invisible rune would forge
// or hide text. Node names are stricter still (nodes()).
func (v *validator) names() {
	if i := unprintable(v.c.Name); i >= 0 {
		v.errorf("cluster", "cluster name %q has an unprintable character at byte %d: names appear in logs and metrics", v.c.Name, i)
	}
	// Unsorted: the errors are sorted at the end, and a large description
	// has many service names to sort.
	checkNames(v, "vipGroups", "VIP group", v.c.VIPGroups)
	checkNames(v, "services", "service", v.c.Services)
	checkNames(v, "checks", "check", v.c.Checks)
	checkNames(v, "syncGroups", "sync group", v.c.SyncGroups)
	checkNames(v, "spread", "spread set", v.c.Spread)
}

func checkNames[V any](v *validator, section, kind string, m map[string]V) {
	for name := range m {
		switch i := unprintable(name); {
		case name == "":
			v.errorf(section+"."+name, "%s name is empty", kind)
		case i >= 0:
			v.errorf(section+"."+name, "%s name %q has an unprintable character at byte %d: names appear in logs, metrics and notify arguments, so only printable characters are allowed", kind, name, i)
		}
	}
}

// unprintable returns the byte offset of the first character of s that is
// not printable (a control character, a format or invisible rune, a space
// other than ' ', invalid UTF-8), or -1.
func unprintable(s string) int {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return i // invalid UTF-8; a written U+FFFD is printable
			}
			continue
		}
		if !unicode.IsPrint(r) {
			return i
		}
	}
	return -1
}

// printableField refuses an unprintable character in a string that ends
// up in a log line, a file name, a request or a process's arguments.
func (v *validator) printableField(path, s string) {
	if i := unprintable(s); i >= 0 {
		v.errorf(path, "%q has an unprintable character at byte %d", s, i)
	}
}

// ---- nodes ----

func (v *validator) nodes() {
	if len(v.c.Nodes) == 0 {
		v.errorf("nodes", "a cluster needs at least one node")
		return
	}
	for _, name := range sortedKeys(v.c.Nodes) {
		p := "nodes." + name
		n := v.c.Nodes[name]
		if !nodeNameRE.MatchString(name) {
			v.errorf(p, "node name %q must be a host name label: letters, digits and '-', 1-63 characters, not starting or ending with '-'", name)
		}
		if n == nil {
			v.errorf(p, "node has no settings: address and interface are required")
			continue
		}
		if n.Address == "" {
			v.errorf(p+".address", "address is required (the node's IPv4 address VRRP speaks from)")
		} else if a, msg := parseHost(n.Address); msg != "" {
			v.errorf(p+".address", "%s", msg)
		} else if !a.Is4() {
			v.errorf(p+".address", "%q must be an IPv4 address (put the IPv6 address in address6)", n.Address)
		} else if other, dup := v.nodeAddr[a]; dup {
			v.errorf(p+".address", "%s is also the address of node %q (at %s)", a, other, v.where("nodes."+other+".address"))
		} else {
			v.nodeAddr[a] = name
		}
		if n.Address6 != "" {
			if a, msg := parseHost(n.Address6); msg != "" {
				v.errorf(p+".address6", "%s", msg)
			} else if !a.Is6() {
				v.errorf(p+".address6", "%q must be an IPv6 address", n.Address6)
			} else if other, dup := v.nodeAddr[a]; dup {
				v.errorf(p+".address6", "%s is also the address of node %q", a, other)
			} else {
				v.nodeAddr[a] = name
			}
		}
		v.ifaceName(p+".interface", n.Interface)
	}
}

// overrides checks each node's per-group overrides once the groups are known.
func (v *validator) overrides() {
	for _, name := range sortedKeys(v.c.Nodes) {
		n := v.c.Nodes[name]
		if n == nil {
			continue
		}
		for _, gname := range sortedKeys(n.Overrides) {
			p := "nodes." + name + ".overrides." + gname
			o := n.Overrides[gname]
			g, ok := v.c.VIPGroups[gname]
			if !ok {
				v.errorf(p, "no VIP group %q%s", gname, didYouMean(gname, sortedKeys(v.c.VIPGroups)))
				continue
			}
			if o == nil {
				continue
			}
			if !slices.Contains(v.members(gname, g), name) {
				v.errorf(p, "node %q is not a member of group %q, so this override has no effect", name, gname)
			}
			v.ifaceName(p+".interface", o.Interface)
			if o.Priority != nil {
				v.priority(p+".priority", *o.Priority, gname, name)
			}
		}
	}
}

// priority checks a configured priority: 1-254, or 255 for the node
// that owns the group's addresses (RFC 5798 reserves 255 for it).
func (v *validator) priority(path string, prio int, group, node string) {
	switch {
	case prio == OwnerPriority:
		if !slices.ContainsFunc(v.groupAddr[group], func(a netip.Addr) bool { return v.nodeAddr[a] == node }) {
			v.errorf(path, "priority 255 is reserved for the address owner: node %q does not have one of group %q's VIPs as its address", node, group)
		}
	case prio < 1 || prio > 254:
		v.errorf(path, "priority %d is out of range 1-254", prio)
	}
}

// ---- tracked checks ----

func (v *validator) trackChecks() {
	for _, name := range sortedKeys(v.c.Checks) {
		p := "checks." + name
		tc := v.c.Checks[name]
		if tc == nil {
			v.errorf(p, "check has no settings: command is required")
			continue
		}
		v.command(p+".command", tc.Command, true)
		v.durationFloor(p+".interval", tc.Interval, MinCheckInterval)
		v.durationFloor(p+".timeout", tc.Timeout, MinTimeout)
		v.printableField(p+".user", tc.User)
		v.atLeastOne(p+".rise", tc.Rise)
		v.atLeastOne(p+".fall", tc.Fall)
		v.weight(p+".weight", tc.Weight)
	}
}

// weight checks a priority adjustment: it must leave room inside 1-254.
func (v *validator) weight(path string, w int) {
	if w < -253 || w > 253 {
		v.errorf(path, "weight %d is out of range -253..253", w)
	}
}

func (v *validator) command(path string, c Command, required bool) {
	switch {
	case c.IsZero():
		// `master: ""` decodes to the same Command as no master.
		if required || v.c.Sources.written(path) {
			v.errorf(path, "command is empty")
		}
	case c.Shell != "" && strings.TrimSpace(c.Shell) == "":
		v.errorf(path, "command is empty")
	case c.Shell == "" && c.Argv[0] == "":
		v.errorf(path+"[0]", "program name is empty")
	case c.Shell == "" && relativePath(c.Argv[0]):
		v.errorf(path+"[0]", "program %q is a relative path, but commands run in /, not beside the description: write it absolute, or as a bare name looked up in PATH", c.Argv[0])
	case c.Shell != "":
		// The shell resolves the first word the same way.
		if prog := strings.Fields(c.Shell)[0]; relativePath(prog) && !strings.ContainsAny(prog, "$`'\"=~\\;|&(){}<>*?[") {
			v.errorf(path, "program %q is a relative path, but commands run in /, not beside the description: write it absolute, or as a bare name looked up in PATH", prog)
		}
	}
}

// relativePath reports a program path that depends on the working
// directory: one with a slash that does not start with one. A bare name
// is looked up in the command's fixed PATH.
func relativePath(prog string) bool {
	return strings.Contains(prog, "/") && !strings.HasPrefix(prog, "/")
}

// Floors of the periodic and bounded operations. keepalived counts
// vrrp_script intervals and timeouts in whole seconds and its checkers'
// in microseconds with no useful floor; below these a value is a slip
// ("1ns", "1us", "1ms" for "1s") rather than a need, and at 1ns a check
// runs back to back and keeps a core busy.
const (
	// MinCheckInterval bounds health check and tracked check intervals:
	// each run opens a connection or starts a process.
	MinCheckInterval = 100 * time.Millisecond
	// MinTimeout bounds check and notify timeouts: shorter ones expire
	// before a process has started or a LAN round trip has ended on a
	// busy host, so the check fails for no reason.
	MinTimeout = 10 * time.Millisecond
)

// durationFloor checks a duration that must be greater than 0 and at
// least floor.
func (v *validator) durationFloor(path string, d *Duration, floor time.Duration) {
	switch {
	case d == nil:
	case *d <= 0:
		v.errorf(path, "%s must be greater than 0", d)
	case d.D() < floor:
		v.errorf(path, "%s is below the %s minimum", d, floor)
	}
}

func (v *validator) nonNegativeDuration(path string, d *Duration) {
	if d != nil && *d < 0 {
		v.errorf(path, "%s must not be negative", d)
	}
}

func (v *validator) atLeastOne(path string, i *int) {
	if i != nil && *i < 1 {
		v.errorf(path, "%d must be at least 1", *i)
	}
}

func (v *validator) notify(path string, n *Notify) {
	if n == nil {
		return
	}
	v.command(path+".master", n.Master, false)
	v.command(path+".backup", n.Backup, false)
	v.command(path+".fault", n.Fault, false)
	v.command(path+".stop", n.Stop, false)
	v.durationFloor(path+".timeout", n.Timeout, MinTimeout)
	v.printableField(path+".user", n.User)
}

// ---- defaults ----

func (v *validator) defaults() {
	d := v.c.defaults()
	v.printableField("defaults.scriptUser", d.ScriptUser)
	if d.VRRP != nil {
		v.vrrpSettings("defaults.vrrp", d.VRRP)
		if d.VRRP.AdvertInterval != nil {
			version := first(DefaultVRRPVersion, d.VRRP.Version)
			v.advertInterval("defaults.vrrp.advertInterval", d.VRRP.AdvertInterval.D(), version, "")
		}
	}
	if s := d.Service; s != nil {
		v.scheduler("defaults.service.scheduler", s.Scheduler)
		v.forwarding("defaults.service.forwarding", s.Forwarding)
		v.protocol("defaults.service.protocol", s.Protocol)
		v.persistence("defaults.service.persistence", s.Persistence, "")
	}
	v.check("defaults.check", d.Check)
}

// vrrpSettings checks the settings that do not depend on the version.
func (v *validator) vrrpSettings(path string, s *VRRPSettings) {
	if s.Version != nil && *s.Version != 2 && *s.Version != 3 {
		v.errorf(path+".version", "VRRP version %d is not supported: want 2 or 3", *s.Version)
	}
	// The version's bounds are checked by advertInterval.
	v.durationFloor(path+".advertInterval", s.AdvertInterval, 0)
	v.nonNegativeDuration(path+".preemptDelay", s.PreemptDelay)
	if s.PreemptDelay != nil && s.PreemptDelay.D() > time.Hour {
		v.errorf(path+".preemptDelay", "%s is longer than the 1h maximum", s.PreemptDelay)
	}
	if g := s.GARP; g != nil {
		if g.Repeat != nil && (*g.Repeat < 1 || *g.Repeat > 100) {
			v.errorf(path+".garp.repeat", "%d is out of range 1-100", *g.Repeat)
		}
		v.nonNegativeDuration(path+".garp.interval", g.Interval)
		v.nonNegativeDuration(path+".garp.refreshDelay", g.RefreshDelay)
	}
}

// advertInterval checks an interval against what the version's wire
// format can carry: v3 centiseconds in 12 bits, v2 whole seconds in 8.
func (v *validator) advertInterval(path string, d time.Duration, version int, note string) {
	if d <= 0 {
		return // reported as non-positive already
	}
	switch version {
	case 3:
		if d < MinAdvertIntervalV3 || d > MaxAdvertIntervalV3 || d%(10*time.Millisecond) != 0 {
			v.errorf(path, "advertInterval %s%s is not valid for VRRP version 3: want 10ms..40.95s in multiples of 10ms", d, note)
		}
	case 2:
		if d < MinAdvertIntervalV2 || d > MaxAdvertIntervalV2 || d%time.Second != 0 {
			v.errorf(path, "advertInterval %s%s is not valid for VRRP version 2: want whole seconds 1s..255s", d, note)
		}
	}
}

// ---- spread sets and sync groups ----

func (v *validator) spreadSets() {
	for _, name := range sortedKeys(v.c.Spread) {
		p := "spread." + name
		s := v.c.Spread[name]
		if s == nil {
			v.errorf(p, "spread set has no settings: groups and nodes are required")
			continue
		}
		if len(s.Groups) == 0 {
			v.errorf(p+".groups", "a spread set needs at least one group")
		}
		if len(s.Nodes) == 0 {
			v.errorf(p+".nodes", "a spread set needs at least one node")
		}
		listRefs(v, p+".groups", "group", "no VIP group %q", s.Groups, v.c.VIPGroups, func(gp, g string) {
			if other, dup := v.spreadOf[g]; dup {
				v.errorf(gp, "group %q is already in spread set %q (at %s); a group can be in one spread set only", g, other, v.where("spread."+other))
				return
			}
			v.spreadOf[g] = name
			if grp := v.c.VIPGroups[g]; grp != nil && (len(grp.Nodes) > 0 || len(grp.Priorities) > 0) {
				v.errorf(gp, "group %q sets nodes or priorities but is in spread set %q, which chooses them: remove one", g, name)
			}
		})
		listRefs(v, p+".nodes", "node", "no node %q is defined", s.Nodes, v.c.Nodes, nil)
	}
}

func (v *validator) syncGroups() {
	for _, name := range sortedKeys(v.c.SyncGroups) {
		p := "syncGroups." + name
		s := v.c.SyncGroups[name]
		if s == nil {
			v.errorf(p, "sync group has no settings: groups are required")
			continue
		}
		// keepalived accepts one-group sync groups (useful for their
		// notify hooks), so one is allowed.
		if len(s.Groups) == 0 {
			v.errorf(p+".groups", "a sync group needs at least one group")
		}
		listRefs(v, p+".groups", "group", "no VIP group %q", s.Groups, v.c.VIPGroups, func(gp, g string) {
			if other, dup := v.syncOf[g]; dup {
				v.errorf(gp, "group %q is already in sync group %q (at %s); a group can be in one sync group only", g, other, v.where("syncGroups."+other))
				return
			}
			v.syncOf[g] = name
		})
		v.notify(p+".notify", s.Notify)
	}
}

// listRefs checks a list of names of entries in known: each listed once
// and defined (undefined is the message for one that is not, given the
// name). It calls each, when set, for every defined, first-listed name
// with its element's path.
func listRefs[V any](v *validator, path, kind, undefined string, names []string, known map[string]V, each func(path, name string)) {
	seen := map[string]int{}
	for i, name := range names {
		ep := fmt.Sprintf("%s[%d]", path, i)
		if j, dup := seen[name]; dup {
			v.errorf(ep, "%s %q is listed twice (also at %s)", kind, name, v.where(fmt.Sprintf("%s[%d]", path, j)))
			continue
		}
		seen[name] = i
		if _, ok := known[name]; !ok {
			v.errorf(ep, undefined+"%s", name, didYouMean(name, sortedKeys(known)))
			continue
		}
		if each != nil {
			each(ep, name)
		}
	}
}

// ---- VIP groups ----

// members lists the nodes that take part in a group, as configured.
func (v *validator) members(name string, g *VIPGroup) []string {
	if s, ok := v.spreadOf[name]; ok {
		return v.c.Spread[s].Nodes
	}
	if len(g.Nodes) > 0 {
		return g.Nodes
	}
	return sortedKeys(g.Priorities)
}

// settingPath returns the path a VRRP setting of a group comes from: the
// group's own when set, else defaults.vrrp.
func (v *validator) settingPath(group, field string) string {
	p := "vipGroups." + group + "." + field
	if v.c.Sources.written(p) || v.c.Sources == nil {
		return p
	}
	return "defaults.vrrp." + field
}

func (v *validator) vipGroups() {
	names := sortedKeys(v.c.VIPGroups)
	// VIPs first, so duplicate VIPs and owner checks see every group.
	for _, name := range names {
		if g := v.c.VIPGroups[name]; g != nil {
			v.vips(name, g)
		}
	}
	dv := cmp.Or(v.c.defaults().VRRP, &VRRPSettings{})
	for _, name := range names {
		p := "vipGroups." + name
		g := v.c.VIPGroups[name]
		if g == nil {
			v.errorf(p, "group has no settings: vrid and vips are required")
			continue
		}
		if (g.VRID < 1 || g.VRID > 255) && !bgpGroup(g) {
			v.errorf(p+".vrid", "%d is out of range 1-255", g.VRID)
		}
		v.ifaceName(p+".interface", g.Interface)
		v.groupMembers(name, g)

		v.vrrpSettings(p, &g.VRRPSettings)
		version, versionFrom := DefaultVRRPVersion, ""
		switch {
		case g.Version != nil:
			version = *g.Version
		case dv.Version != nil:
			version, versionFrom = *dv.Version, " (version from defaults.vrrp)"
		}
		interval, intervalFrom := DefaultAdvertInterval, ""
		switch {
		case g.AdvertInterval != nil:
			interval = g.AdvertInterval.D()
		case dv.AdvertInterval != nil:
			interval, intervalFrom = dv.AdvertInterval.D(), " (from defaults.vrrp)"
		}
		// When both come from defaults, defaults() reported it already.
		if g.Version != nil || g.AdvertInterval != nil {
			path := p + ".advertInterval"
			if g.AdvertInterval == nil {
				path = p + ".version"
			}
			v.advertInterval(path, interval, version, intervalFrom+versionFrom)
		}
		if version == 2 && v.family(name) == IPv6 {
			v.errorf(v.settingPath(name, "version"), "VRRP version 2 is IPv4-only but group %q has IPv6 VIPs%s: use version 3", name, versionFrom)
		}
		if a := g.Auth; a != nil {
			if version == 3 {
				v.errorf(p+".auth", "auth is VRRPv2-only (RFC 5798 removed it); group %q uses version 3%s", name, versionFrom)
			}
			if a.Type != "pass" {
				v.errorf(p+".auth.type", "auth type %q is not supported: want pass", a.Type)
			}
			if (a.SecretFile == "") == (a.SecretEnv == "") {
				v.errorf(p+".auth", "set exactly one of secretFile and secretEnv")
			}
		}
		if first(DefaultUnicast, g.Unicast, dv.Unicast) && v.family(name) == IPv6 {
			for _, m := range v.members(name, g) {
				if n := v.c.Nodes[m]; n != nil && n.Address6 == "" {
					v.errorf(v.settingPath(name, "unicast"), "unicast IPv6 group %q needs an address6 on node %q (at %s)", name, m, v.where("nodes."+m))
				}
			}
		}

		seenIf := map[string]int{}
		for i, ti := range g.TrackInterfaces {
			tp := fmt.Sprintf("%s.trackInterfaces[%d]", p, i)
			if ti.Interface == "" {
				v.errorf(tp+".interface", "interface is required")
			} else if msg := checkIfaceName(ti.Interface); msg != "" {
				v.errorf(tp+".interface", "%s", msg)
			} else if j, dup := seenIf[ti.Interface]; dup {
				v.errorf(tp, "interface %q is tracked twice (also at %s)", ti.Interface, v.where(fmt.Sprintf("%s.trackInterfaces[%d]", p, j)))
			} else {
				seenIf[ti.Interface] = i
			}
			v.weight(tp+".weight", ti.Weight)
		}
		seenCheck := map[string]int{}
		for i, tc := range g.TrackChecks {
			tp := fmt.Sprintf("%s.trackChecks[%d]", p, i)
			if tc.Check == "" {
				v.errorf(tp+".check", "check name is required")
			} else if _, ok := v.c.Checks[tc.Check]; !ok {
				v.errorf(tp+".check", "no check %q is defined under checks%s", tc.Check, didYouMean(tc.Check, sortedKeys(v.c.Checks)))
			} else if j, dup := seenCheck[tc.Check]; dup {
				v.errorf(tp, "check %q is tracked twice (also at %s)", tc.Check, v.where(fmt.Sprintf("%s.trackChecks[%d]", p, j)))
			} else {
				seenCheck[tc.Check] = i
			}
			if tc.Weight != nil {
				v.weight(tp+".weight", *tc.Weight)
			}
		}
		v.notify(p+".notify", g.Notify)
	}
}

// The most VIPs one group may have: its adverts list them all, in one
// packet. The count field is 8 bits, and the packet must leave the node
// unfragmented on any link. A link's MTU is not known here (nodes differ,
// and may change it), so the limit assumes 1280 bytes, the smallest MTU an
// IPv6 link may have (RFC 8200) and below any Ethernet or common tunnel:
//
//	IPv4: 20 (IP) + 8 (VRRP) + 4n (+ 8 v2 auth data) <= 1280  -> n <= 311, so 255 binds
//	IPv6: 40 (IP) + 8 (VRRP) + 16n                    <= 1280  -> n <= 77
//
// More VIPs go in several groups of one sync group (docs/format.md).
const (
	MaxVIPsIPv4 = 255
	MaxVIPsIPv6 = (1280 - 40 - 8) / 16
)

// MaxVIPs is the most VIPs of family f one advert carries.
func MaxVIPs(f Family) int {
	if f == IPv6 {
		return MaxVIPsIPv6
	}
	return MaxVIPsIPv4
}

// vips parses a group's VIPs, records which group owns each address and
// the group's family, and reports duplicates and mixed families.
func (v *validator) vips(name string, g *VIPGroup) {
	p := "vipGroups." + name
	if len(g.VIPs) == 0 {
		v.errorf(p+".vips", "a VIP group needs at least one VIP")
		return
	}
	seen := map[netip.Addr]int{}
	for i, vip := range g.VIPs {
		vp := fmt.Sprintf("%s.vips[%d]", p, i)
		pfx, msg := checkVIPAddress(vip.Address)
		if msg != "" {
			v.errorf(vp, "%s", msg)
			continue
		}
		a := pfx.Addr()
		fam := familyOf(a)
		if j, dup := seen[a]; dup {
			v.errorf(vp, "VIP %s is listed twice in this group (also at %s)", a, v.where(fmt.Sprintf("%s.vips[%d]", p, j)))
			continue
		}
		seen[a] = i
		if owner, dup := v.vipOwner[a]; dup {
			v.errorf(vp, "VIP %s is also a VIP of group %q (at %s); an address can move with one group only", a, owner.group, v.where(owner.path))
			continue
		}
		v.vipOwner[a] = ownedVIP{group: name, path: vp}
		v.groupAddr[name] = append(v.groupAddr[name], a)
		if gf := v.family(name); gf != fam {
			v.errorf(vp, "VIP %s is %s but the group's first VIP is %s: a VRRP instance carries one address family; use two groups", a, fam, gf)
		}
		v.ifaceName(vp+".device", vip.Device)
		if vip.Label != "" {
			dev := cmp.Or(vip.Device, g.Interface)
			switch {
			case fam == IPv6:
				v.errorf(vp+".label", "labels exist only for IPv4 addresses")
			case len(vip.Label) > 15:
				v.errorf(vp+".label", "label %q is longer than 15 characters", vip.Label)
			case unprintable(vip.Label) >= 0:
				v.errorf(vp+".label", "label %q has an unprintable character", vip.Label)
			case dev != "" && vip.Label != dev && !strings.HasPrefix(vip.Label, dev+":"):
				v.errorf(vp+".label", "label %q must be %q or start with %q", vip.Label, dev, dev+":")
			}
		}
	}
	fam := v.family(name)
	limit := MaxVIPs(fam)
	if len(g.VIPs) > limit {
		v.errorf(p+".vips", "group %q has %d VIPs, but one VRRP advert carries at most %d %s addresses: split them over several groups and put those in one sync group so they fail over together", name, len(g.VIPs), limit, fam)
	}
}

// ownAddresses refuses a VIP that is a node's own address unless that
// node is the group's address owner (priority 255, RFC 5798): any other
// master would add the address while its node still has it, a duplicate
// address on the segment. The owner is master whenever it is up, so a
// backup takes the address over only while the owner is gone.
func (v *validator) ownAddresses() {
	for _, name := range sortedKeys(v.groupAddr) {
		g := v.c.VIPGroups[name]
		for _, a := range v.groupAddr[name] {
			node, ok := v.nodeAddr[a]
			if !ok {
				continue
			}
			path := v.vipOwner[a].path
			nodeAt := v.where("nodes." + node)
			switch {
			case !slices.Contains(v.members(name, g), node):
				v.errorf(path, "VIP %s is the own address of node %q (at %s), which is not a member of group %q: whichever member is master would put it on the segment twice", a, node, nodeAt, name)
			case v.explicitPriority(name, g, node) != OwnerPriority:
				v.errorf(path, "VIP %s is the own address of node %q (at %s): another master would put it on the segment twice; give %q priority 255 in group %q to make it the address owner, or choose a free address", a, node, nodeAt, node, name)
			}
		}
	}
}

// explicitPriority is a node's configured priority in a group (its
// override, else the group's priorities), or 0 when derived from an order.
func (v *validator) explicitPriority(group string, g *VIPGroup, node string) int {
	return first(g.Priorities[node], overridePriority(v.c.Nodes[node], group))
}

// checkVIPAddress accepts an address with or without prefix length. The
// prefix is only meaningful when the message is empty.
func checkVIPAddress(s string) (netip.Prefix, string) {
	if s == "" {
		return netip.Prefix{}, "VIP address is required"
	}
	if !strings.Contains(s, "/") {
		// parseHost checks a, not the prefix: PrefixFrom drops a zone.
		a, msg := parseHost(s)
		return netip.PrefixFrom(a, a.BitLen()), msg
	}
	pfx, err := netip.ParsePrefix(s)
	if err != nil {
		return pfx, fmt.Sprintf("%q is not an address with prefix length (192.0.2.10/24, 2001:db8::10/64)", s)
	}
	return pfx, checkUsable(pfx.Addr(), s)
}

// groupMembers checks how a group names its nodes.
func (v *validator) groupMembers(name string, g *VIPGroup) {
	p := "vipGroups." + name
	_, spread := v.spreadOf[name]
	if len(g.Nodes) > 0 && len(g.Priorities) > 0 {
		v.errorf(p+".priorities", "set either nodes (a preference order) or priorities, not both")
	}
	if !spread && len(g.Nodes) == 0 && len(g.Priorities) == 0 {
		v.errorf(p, "group %q has no nodes: set nodes or priorities, or put it in a spread set", name)
	}
	listRefs(v, p+".nodes", "node", "no node %q is defined", g.Nodes, v.c.Nodes, nil)
	for _, n := range sortedKeys(g.Priorities) {
		pp := p + ".priorities." + n
		if _, ok := v.c.Nodes[n]; !ok {
			v.errorf(pp, "no node %q is defined%s", n, didYouMean(n, sortedKeys(v.c.Nodes)))
			continue
		}
		v.priority(pp, g.Priorities[n], name, n)
	}
	for _, m := range v.members(name, g) {
		if n := v.c.Nodes[m]; n != nil && n.Interface == "" {
			v.errorf("nodes."+m+".interface", "interface is required (the link VRRP runs on)")
		}
	}
}

// vridConflicts reports two groups of one address family with the same
// VRID on the same interface name. Interface names stand in for segments:
// nodes of one cluster normally share their names, and a VRID clash on a
// shared segment makes the routers fight, so a shared name is refused even
// when the groups have no node in common.
func (v *validator) vridConflicts() {
	type key struct {
		iface string
		fam   Family
		vrid  int
	}
	used := map[key]string{}
	for _, name := range sortedKeys(v.c.VIPGroups) {
		g := v.c.VIPGroups[name]
		fam := v.family(name)
		if g == nil || fam == "" || g.VRID < 1 || g.VRID > 255 || bgpGroup(g) {
			continue
		}
		ifaces := map[string]bool{}
		for _, m := range v.members(name, g) {
			if iface := groupInterface(v.c.Nodes[m], name, g); iface != "" {
				ifaces[iface] = true
			}
		}
		reported := map[string]bool{}
		for _, iface := range sortedKeys(ifaces) {
			k := key{iface, fam, g.VRID}
			other, clash := used[k]
			if !clash {
				used[k] = name
				continue
			}
			if !reported[other] {
				reported[other] = true
				v.errorf("vipGroups."+name+".vrid", "VRID %d is also used by group %q (at %s) for %s on interface %s: groups sharing a segment need distinct VRIDs per address family", g.VRID, other, v.where("vipGroups."+other+".vrid"), fam, iface)
			}
		}
	}
}

// ---- services ----

func (v *validator) scheduler(path, s string) {
	if s != "" && !slices.Contains(Schedulers, s) {
		v.errorf(path, "unknown scheduler %q: want one of %s%s", s, strings.Join(Schedulers, ", "), didYouMean(s, Schedulers))
	}
}

func (v *validator) forwarding(path string, f Forwarding) {
	if !slices.Contains([]Forwarding{"", NAT, DR, Tunnel}, f) {
		v.errorf(path, "unknown forwarding %q: want nat, dr or tun", f)
	}
}

func (v *validator) protocol(path string, p Protocol) {
	if !slices.Contains([]Protocol{"", TCP, UDP, SCTP}, p) {
		v.errorf(path, "unknown protocol %q: want tcp, udp or sctp", p)
	}
}

// persistence checks a persistence block; fam is "" when the family is
// not known (defaults), which accepts either netmask form.
func (v *validator) persistence(path string, ps *Persistence, fam Family) {
	if ps == nil {
		return
	}
	switch t := ps.Timeout.D(); {
	case t <= 0:
		v.errorf(path+".timeout", "timeout is required and must be greater than 0")
	case t%time.Second != 0:
		v.errorf(path+".timeout", "%s: IPVS counts persistence in whole seconds", t)
	}
	if ps.Netmask == "" {
		return
	}
	if bits, err := strconv.Atoi(ps.Netmask); err == nil {
		if fam == IPv4 {
			v.errorf(path+".netmask", "%q: an IPv4 service takes a dotted netmask such as 255.255.255.0", ps.Netmask)
		} else if bits < 1 || bits > 128 {
			v.errorf(path+".netmask", "IPv6 prefix length %d is out of range 1-128", bits)
		}
		return
	}
	if fam == IPv6 {
		v.errorf(path+".netmask", "%q: an IPv6 service takes a prefix length such as 64", ps.Netmask)
		return
	}
	m, err := netip.ParseAddr(ps.Netmask)
	if err != nil || !m.Is4() || maskBits(m) < 1 {
		v.errorf(path+".netmask", "%q is not an IPv4 netmask such as 255.255.255.0", ps.Netmask)
	}
}

// inheritedNetmask checks the default persistence netmask, which
// defaults() found fits one family or both, against the family of a
// service that inherits it.
func (v *validator) inheritedNetmask(netmask string, fam Family) {
	path := "defaults.service.persistence.netmask"
	bits, err := strconv.Atoi(netmask)
	switch {
	case err == nil && fam == IPv4 && bits > 32:
		v.errorf(path, "prefix length %d is outside 0-32", bits)
	case err != nil && netmask != "" && fam == IPv6:
		v.errorf(path, "%q is not a netmask: write 255.255.255.0 (IPv4) or a prefix length", netmask)
	}
}

// serviceKey is what makes a service unique: the VIP, port and protocol
// of a VIP service, or the fwmark and family of a fwmark service. It is
// the zero key when the service's own checks did not get that far.
type serviceKey struct {
	addr  netip.Addr
	port  int
	proto Protocol
	mark  int
	fam   Family
}

type rsKey struct {
	addr netip.Addr
	port int
}

// services checks every service, and that no two share a VIP, port and
// protocol or a fwmark: the first in name order keeps it.
func (v *validator) services() {
	sd := cmp.Or(v.c.defaults().Service, &ServiceDefaults{})
	// A default netmask defaults() refused is reported there, once.
	inheritMask := sd.Persistence != nil && !slices.ContainsFunc(v.errs, func(e *Error) bool { return e.Path == "defaults.service.persistence.netmask" })
	used := map[serviceKey]string{}
	for _, name := range sortedKeys(v.c.Services) {
		p := "services." + name
		k := v.service(name, v.c.Services[name], sd, inheritMask)
		if k == (serviceKey{}) {
			continue
		}
		other, dup := used[k]
		switch {
		case !dup:
			used[k] = name
		case k.mark == 0:
			v.errorf(p, "%s port %d/%s is also service %q (at %s)", k.addr, k.port, k.proto, other, v.where("services."+other))
		case k.mark > 0:
			v.errorf(p+".fwmark", "fwmark %d (%s) is also service %q (at %s)", k.mark, k.fam, other, v.where("services."+other))
		}
	}
	v.markOverlaps(sd)
}

// service checks one service's own settings and real servers.
func (v *validator) service(name string, s *Service, sd *ServiceDefaults, inheritMask bool) (key serviceKey) {
	p := "services." + name
	if s == nil {
		v.errorf(p, "service has no settings: vip and port (or fwmark) and realServers are required")
		return key
	}
	var fam Family
	var vip netip.Addr
	switch {
	case s.VIP != "" && s.FWMark != 0:
		v.errorf(p, "set either vip (with port) or fwmark, not both")
	case s.VIP == "" && s.FWMark == 0:
		v.errorf(p, "set vip (with port) or fwmark")
	case s.VIP != "":
		a, msg := parseHost(s.VIP)
		if msg != "" {
			v.errorf(p+".vip", "%s", msg)
			break
		}
		fam, vip = familyOf(a), a
		owner, ok := v.vipOwner[a]
		if !ok {
			v.errorf(p+".vip", "no VIP group owns %s: a service's vip must be a VIP of some group", a)
		} else if s.Group != "" && s.Group != owner.group {
			v.errorf(p+".group", "group %q does not own %s (group %q does); for VIP services the group follows from the VIP", s.Group, a, owner.group)
		}
		if s.Port < 1 || s.Port > 65535 {
			v.errorf(p+".port", "port %d is out of range 1-65535 (a VIP service needs a port)", s.Port)
		}
		if s.Family != "" && s.Family != fam {
			v.errorf(p+".family", "family %q does not match vip %s", s.Family, a)
		}
		key = serviceKey{addr: a, port: s.Port, proto: cmp.Or(s.Protocol, sd.Protocol, DefaultProtocol)}
	default:
		if s.FWMark < 1 || s.FWMark > 1<<32-1 {
			v.errorf(p+".fwmark", "fwmark %d is out of range 1-4294967295", s.FWMark)
		}
		if s.Port != 0 {
			v.errorf(p+".port", "a fwmark service has no port: the mark selects the packets")
		}
		if s.Protocol != "" {
			v.errorf(p+".protocol", "a fwmark service has no protocol: the mark selects the packets")
		}
		if fam = cmp.Or(s.Family, IPv4); fam != IPv4 && fam != IPv6 {
			v.errorf(p+".family", "unknown family %q: want ipv4 or ipv6", s.Family)
			fam = ""
		}
		if s.Group != "" {
			if _, ok := v.c.VIPGroups[s.Group]; !ok {
				v.errorf(p+".group", "no VIP group %q%s", s.Group, didYouMean(s.Group, sortedKeys(v.c.VIPGroups)))
			} else if gf := v.family(s.Group); gf != "" && fam != "" && gf != fam {
				v.errorf(p+".group", "group %q carries %s VIPs but the service is %s", s.Group, gf, fam)
			}
		}
		key = serviceKey{mark: s.FWMark, fam: fam}
	}
	v.markMatch(p, s, fam)
	v.protocol(p+".protocol", s.Protocol)

	v.scheduler(p+".scheduler", s.Scheduler)
	sched := cmp.Or(s.Scheduler, sd.Scheduler, v.defaultScheduler(s))
	if allowed, ok := SchedulerFlags[sched]; len(s.SchedulerFlags) > 0 && !ok {
		v.errorf(p+".schedulerFlags", "scheduler %s takes no flags (only sh and mh do)", sched)
	} else {
		for i, f := range s.SchedulerFlags {
			fp := fmt.Sprintf("%s.schedulerFlags[%d]", p, i)
			switch {
			case !slices.Contains(allowed, f):
				v.errorf(fp, "scheduler %s does not take flag %q: want %s%s", sched, f, strings.Join(allowed, ", "), didYouMean(f, allowed))
			case slices.Contains(s.SchedulerFlags[:i], f):
				v.errorf(fp, "flag %q is listed twice", f)
			}
		}
	}
	v.forwarding(p+".forwarding", s.Forwarding)
	fwd := cmp.Or(s.Forwarding, sd.Forwarding, DefaultForwarding)
	v.persistence(p+".persistence", s.Persistence, fam)
	if s.Persistence == nil && inheritMask {
		v.inheritedNetmask(sd.Persistence.Netmask, fam)
	}
	if s.Quorum != nil && *s.Quorum < 1 {
		v.errorf(p+".quorum", "quorum %d must be at least 1", *s.Quorum)
	}
	v.check(p+".check", s.Check)

	if len(s.RealServers) == 0 {
		v.errorf(p+".realServers", "a service needs at least one real server")
	}
	seen := map[rsKey]int{}
	for i := range s.RealServers {
		rp := indexPath{p, "realServers", i}
		rs := &s.RealServers[i]
		a, ok := v.realServer(rp, rs, s, fam, fwd, vip)
		if !ok {
			continue
		}
		k := rsKey{a, cmp.Or(rs.Port, s.Port)}
		if j, dup := seen[k]; dup {
			v.errorf(rp.String(), "real server %s port %d is listed twice (also at %s)", a, k.port, v.where(fmt.Sprintf("%s.realServers[%d]", p, j)))
			continue
		}
		seen[k] = i
	}
	if s.SorryServer != nil {
		v.realServer(indexPath{p, "sorryServer", -1}, s.SorryServer, s, fam, fwd, vip)
	}
	return key
}

// indexPath is a list element's path, built only when an error names it
// : one string per real server is a cost
// BenchmarkPlan10k (make bench, docs/performance.md) shows.
type indexPath struct {
	parent, field string
	index         int // < 0: parent.field itself, not a list (a sorry server)
}

func (p indexPath) String() string {
	s := p.parent + "." + p.field
	if p.index < 0 {
		return s
	}
	return s + "[" + strconv.Itoa(p.index) + "]"
}

// realServer checks one backend; it returns its address when parsable.
// vip is the service's VIP, zero for a fwmark service.
func (v *validator) realServer(ip indexPath, rs *RealServer, s *Service, fam Family, fwd Forwarding, vip netip.Addr) (netip.Addr, bool) {
	addr, nodeOK := v.realServerNode(ip, rs, s, fam, fwd, vip)
	a, msg := parseDest(addr)
	ok := msg == "" && nodeOK
	switch {
	case !nodeOK:
	case !ok:
		v.errorf(ip.String()+".address", "%s", msg)
	case fam != "" && familyOf(a) != fam:
		v.errorf(ip.String()+".address", "real server %s is %s but the service is %s: IPVS cannot forward between families", a, familyOf(a), fam)
	case a == vip && cmp.Or(rs.Port, s.Port) == s.Port:
		v.errorf(ip.String()+".address", "real server %s port %d is the service's own VIP and port: IPVS would send the service's packets back to itself", a, s.Port)
	}
	switch {
	case rs.Port < 0 || rs.Port > 65535:
		v.errorf(ip.String()+".port", "port %d is out of range 1-65535", rs.Port)
	case rs.Port == 0:
	case (fwd == DR || fwd == Tunnel) && s.FWMark != 0:
		v.errorf(ip.String()+".port", "with %s forwarding of a fwmark service the real server port must be unset: IPVS cannot rewrite the port", fwd)
	case (fwd == DR || fwd == Tunnel) && s.Port != 0 && rs.Port != s.Port:
		v.errorf(ip.String()+".port", "port %d differs from the service port %d, but %s forwarding cannot rewrite the port", rs.Port, s.Port, fwd)
	}
	if rs.Weight != nil && (*rs.Weight < 0 || *rs.Weight > 65535) {
		v.errorf(ip.String()+".weight", "weight %d is out of range 0-65535", *rs.Weight)
	}
	if rs.UpperThreshold < 0 {
		v.errorf(ip.String()+".upperThreshold", "%d must not be negative", rs.UpperThreshold)
	}
	if rs.LowerThreshold < 0 {
		v.errorf(ip.String()+".lowerThreshold", "%d must not be negative", rs.LowerThreshold)
	}
	switch {
	case rs.LowerThreshold > 0 && rs.UpperThreshold == 0:
		v.errorf(ip.String()+".lowerThreshold", "lowerThreshold needs an upperThreshold: it is where a server that hit upperThreshold takes connections again")
	case rs.LowerThreshold > rs.UpperThreshold && rs.UpperThreshold > 0:
		v.errorf(ip.String()+".lowerThreshold", "lowerThreshold %d must not exceed upperThreshold %d", rs.LowerThreshold, rs.UpperThreshold)
	}
	if rs.Check != nil {
		v.check(ip.String()+".check", rs.Check) // the path only for a server with its own check
	}
	return a, ok
}

// ---- health checks ----

// DNSTypes are the query types a DNS health check may send.
var DNSTypes = []string{"A", "AAAA", "CNAME", "MX", "NS", "TXT", "SRV", "SOA", "PTR"}

func (v *validator) check(p string, c *Check) {
	if c == nil {
		return
	}
	var types []string
	for _, t := range []struct {
		name string
		set  bool
	}{
		{"tcp", c.TCP != nil}, {"http", c.HTTP != nil}, {"https", c.HTTPS != nil},
		{"exec", c.Exec != nil}, {"udp", c.UDP != nil}, {"dns", c.DNS != nil}, {"none", c.None != nil},
	} {
		if t.set {
			types = append(types, t.name)
		}
	}
	// No type block is fine: the type comes from the enclosing level
	// (service, then defaults.check), and TCP connect when none sets one.
	if len(types) > 1 {
		v.errorf(p+"."+types[1], "more than one check type (%s): set exactly one", strings.Join(types, ", "))
	}
	v.durationFloor(p+".interval", c.Interval, MinCheckInterval)
	v.durationFloor(p+".timeout", c.Timeout, MinTimeout)
	v.atLeastOne(p+".retries", c.Retries)
	v.atLeastOne(p+".rise", c.Rise)
	v.atLeastOne(p+".fall", c.Fall)
	if c.Port < 0 || c.Port > 65535 {
		v.errorf(p+".port", "port %d is out of range 1-65535", c.Port)
	}
	v.httpCheck(p+".http", c.HTTP)
	v.httpCheck(p+".https", c.HTTPS)
	if e := c.Exec; e != nil {
		v.command(p+".exec.command", e.Command, true)
		v.printableField(p+".exec.user", e.User)
	}
	if d := c.DNS; d != nil {
		if strings.TrimSpace(d.Name) == "" {
			v.errorf(p+".dns.name", "name to query is required")
		} else {
			v.printableField(p+".dns.name", d.Name)
		}
		if d.Type != "" && !slices.Contains(DNSTypes, d.Type) {
			v.errorf(p+".dns.type", "query type %q is not supported: want one of %s%s", d.Type, strings.Join(DNSTypes, ", "), didYouMean(d.Type, DNSTypes))
		}
	}
}

func (v *validator) httpCheck(p string, h *HTTPCheck) {
	if h == nil {
		return
	}
	if h.Path != "" && !strings.HasPrefix(h.Path, "/") {
		v.errorf(p+".path", "path %q must start with /", h.Path)
	} else {
		v.printableField(p+".path", h.Path)
	}
	v.printableField(p+".host", h.Host)
	v.printableField(p+".sni", h.SNI)
	for i, r := range h.Status {
		path := fmt.Sprintf("%s.status[%d]", p, i)
		switch {
		case r.First == r.Last && (r.First < 100 || r.First > 599):
			v.errorf(path, "HTTP status %d is out of range 100-599", r.First)
		case r.First > r.Last:
			v.errorf(path, "HTTP status range %s is backwards: write %d-%d", r, r.Last, r.First)
		case r.First < 100 || r.Last > 599:
			v.errorf(path, "HTTP status range %s is not within 100-599", r)
		}
	}
	if h.BodyRegex != "" {
		if _, err := regexp.Compile(h.BodyRegex); err != nil {
			v.errorf(p+".bodyRegex", "not a valid RE2 regular expression: %v", err)
		}
	}
}

// ---- warnings ----

// Warnings reports what is valid but probably not meant, sorted by place
// like Validate's errors. Call it on a cluster Validate accepted: it skips
// what it cannot parse.
func Warnings(c *Cluster) ErrorList {
	if c == nil {
		return nil
	}
	v := &validator{c: c, spreadOf: map[string]string{}, vipOwner: map[netip.Addr]ownedVIP{}}
	v.spreadSets() // for members()
	v.errs = nil   // Validate's to report
	for _, name := range sortedKeys(c.VIPGroups) {
		if g := c.VIPGroups[name]; g != nil {
			v.vipPrefixes(name, g)
			for _, vip := range g.VIPs { // for serviceGroup(), as vipGroups() fills it
				if p, msg := checkVIPAddress(vip.Address); msg == "" && v.vipOwner[p.Addr()].group == "" {
					v.vipOwner[p.Addr()] = ownedVIP{group: name}
				}
			}
		}
	}
	for _, name := range sortedKeys(c.Services) {
		v.markWarning(name, c.Services[name])
	}
	v.bgpWarnings()
	v.errs.Sort()
	return v.errs
}

// vipPrefixes warns about a VIP whose prefix holds none of its group's
// node addresses: the kernel adds a connected route for that prefix on
// the interface, for a subnet the nodes are not on (10.9.9.9/24 on nodes
// in 192.0.2.0/24). A host prefix (/32, /128) adds no such route; a VIP
// on another device, or of a family no member has an address of on the
// group's interface, has nothing to compare with.
func (v *validator) vipPrefixes(name string, g *VIPGroup) {
	var addrs []netip.Addr
	var shown []string
	for _, m := range v.members(name, g) {
		// A node's addresses are on its own interface; a group run on
		// another one has nothing to compare with there.
		if n := v.c.Nodes[m]; n != nil && groupInterface(v.c.Nodes[m], name, g) == n.Interface {
			for _, s := range []string{n.Address, n.Address6} {
				if a, err := netip.ParseAddr(s); err == nil {
					addrs = append(addrs, a)
				}
			}
		}
	}
	for i, vip := range g.VIPs {
		pfx, msg := checkVIPAddress(vip.Address)
		if msg != "" || pfx.IsSingleIP() || vip.Device != "" {
			continue
		}
		shown = shown[:0]
		contains := false
		for _, a := range addrs {
			if a.Is4() == pfx.Addr().Is4() {
				shown = append(shown, a.String())
				contains = contains || pfx.Contains(a)
			}
		}
		if len(shown) == 0 || contains {
			continue
		}
		v.errorf(fmt.Sprintf("vipGroups.%s.vips[%d]", name, i), "prefix %s of VIP %s holds none of the group's node addresses (%s): the kernel will route %s to this interface; write /%d if the address is routed to the nodes, or correct the prefix length",
			pfx.Masked(), pfx.Addr(), strings.Join(shown, ", "), pfx.Masked(), pfx.Addr().BitLen())
	}
}
