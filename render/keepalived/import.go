package keepalived

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hakeeper/hakeeper/model"
)

// Source is one node's keepalived.conf to import.
type Source struct {
	// Node name; empty: router_id, else the file name without extension.
	Node string
	Path string
}

// Options tune an import.
type Options struct {
	// Cluster name written to the description ("imported" when empty).
	Cluster string
	// Addresses gives node addresses (IPv4 and/or IPv6) keepalived.conf
	// does not state: multicast setups have no unicast_src_ip.
	Addresses map[string][]string
	// SecretDir is where the imported description tells hakeeper to read
	// VRRP passwords from (default /etc/hakeeper/secrets).
	SecretDir string
	// IPTablesSave is an iptables-save file whose mangle MARK rules
	// become the match of fwmark services (import_fwmark.go).
	IPTablesSave string
}

// Warning is something the import could not carry over faithfully: an
// unmapped keyword, or a difference between nodes that keepalived
// tolerates but that is almost always a mistake.
type Warning struct {
	Pos model.Pos
	Msg string
}

func (w Warning) String() string {
	if p := w.Pos.String(); p != "" {
		return p + ": " + w.Msg
	}
	return w.Msg
}

// Result is an imported cluster and what the import had to say about it.
type Result struct {
	Cluster  *model.Cluster
	Warnings []Warning
	// Sources are the node name and path of every imported file, in order.
	Sources []Source
}

// Keepalived's own defaults where they differ from hakeeper's: written
// explicitly on import so the imported cluster behaves the same.
const (
	kaVRRPVersion        = 2
	kaScriptInterval     = time.Second
	kaDelayLoop          = 60 * time.Second
	kaConnectTimeout     = 5 * time.Second
	kaRetry              = 1
	kaDNSRetry           = 3
	kaMiscRetry          = 0
	kaPersistenceTimeout = 360 * time.Second
	defaultSecretDir     = "/etc/hakeeper/secrets"
)

// Import reads every node's keepalived.conf and merges them into one
// cluster description. Parse errors and missing facts (a node address)
// are errors; everything else that does not map is a warning.
func Import(srcs []Source, opts Options) (*Result, error) {
	return importWith(srcs, opts, parseFile)
}

// importWith imports the files parse reads (the fuzz tests read them
// from memory).
func importWith(srcs []Source, opts Options, parse func(path string) ([]*Stmt, error)) (*Result, error) {
	im := &importer{opts: opts}
	im.opts.SecretDir = cmp.Or(im.opts.SecretDir, defaultSecretDir)
	var errs []error
	for _, src := range srcs {
		stmts, err := parse(src.Path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		n, err := im.readNode(src, stmts)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		im.nodes = append(im.nodes, n)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	seen := map[string]*nodeConf{}
	for _, n := range im.nodes {
		if o := seen[n.name]; o != nil {
			return nil, fmt.Errorf("node name %q used for both %s and %s (name them: %s=PATH)", n.name, o.path, n.path, n.name)
		}
		seen[n.name] = n
	}
	if err := im.importMarks(); err != nil {
		return nil, err
	}
	c, err := im.merge()
	if err != nil {
		return nil, err
	}
	res := &Result{Cluster: c, Warnings: im.warnings}
	for _, n := range im.nodes {
		res.Sources = append(res.Sources, Source{Node: n.name, Path: n.path})
	}
	slices.SortStableFunc(res.Warnings, func(a, b Warning) int {
		return cmp.Or(strings.Compare(a.Pos.File, b.Pos.File), cmp.Compare(a.Pos.Line, b.Pos.Line))
	})
	return res, nil
}

type importer struct {
	opts     Options
	nodes    []*nodeConf
	warnings []Warning
}

func (im *importer) warn(p model.Pos, format string, a ...any) {
	im.warnings = append(im.warnings, Warning{Pos: p, Msg: fmt.Sprintf(format, a...)})
}

func (im *importer) unmapped(s *Stmt, where string) {
	im.warn(s.Pos, "%s: keyword %q is not mapped to hakeeper (ignored)", where, s.Keyword)
}

// nodeConf is what one node's keepalived.conf says, before merging.
type nodeConf struct {
	name, path string
	routerID   string

	version    *int
	garp       model.GARPSettings
	scriptUser string
	syncd      *syncdConf // lvs_sync_daemon
	// at records where each global_defs keyword was, and at "vrrp_garp"
	// the last one that set garp.
	at map[string]model.Pos

	scripts   []*scriptConf
	instances []*instConf
	syncs     []*syncConf
	services  []*vsConf
}

type scriptConf struct {
	name  string
	pos   model.Pos
	check model.TrackCheck
}

// hooks are the notify hooks of a vrrp_instance or vrrp_sync_group, and
// its name for warnings.
type hooks struct {
	notify *model.Notify
	where  string
}

type instConf struct {
	hooks
	node     *nodeConf
	name     string
	pos      model.Pos
	state    string
	iface    string
	vrid     int
	priority int
	family   model.Family
	settings model.VRRPSettings
	authPass string
	auth     *model.Auth
	vips     []model.VIP
	unicast  netip.Addr
	mcastSrc netip.Addr
	peers    []netip.Addr
	tracks   []model.TrackCheckRef
	trackIfs []model.TrackInterface
	// at records where each compared field was written.
	at map[string]model.Pos
	// excluded are the virtual_ipaddress_excluded blocks, read last.
	excluded []*Stmt
}

type syncConf struct {
	hooks
	name   string
	pos    model.Pos
	groups []string
}

type vsConf struct {
	node string
	key  string
	name string
	pos  model.Pos
	svc  *model.Service
}

var nodeNameRe = regexp.MustCompile(`[^a-z0-9-]+`)

// nodeName turns a router_id or file name into a DNS-label-like name.
func nodeName(s string) string {
	s = nodeNameRe.ReplaceAllString(strings.ToLower(s), "-")
	return strings.Trim(s, "-")
}

// topKeys reads the top-level blocks of keepalived.conf.
var topKeys = map[string]handler[nodeConf]{
	"global_defs":     (*importer).readGlobal,
	"vrrp_script":     (*importer).readScript,
	"vrrp_instance":   (*importer).readInstance,
	"vrrp_sync_group": (*importer).readSync,
	"virtual_server":  (*importer).readService,
}

func (im *importer) readNode(src Source, stmts []*Stmt) (*nodeConf, error) {
	n := &nodeConf{name: src.Node, path: src.Path, at: map[string]model.Pos{}}
	if err := readBlock(im, n, stmts, topKeys, "top level"); err != nil {
		return nil, err
	}
	base := filepath.Base(src.Path)
	n.name = cmp.Or(n.name, nodeName(n.routerID), nodeName(strings.TrimSuffix(base, filepath.Ext(base))))
	for _, v := range n.services {
		v.node = n.name
	}
	return n, nil
}

// globalKeys reads the keywords of global_defs.
var globalKeys = map[string]handler[nodeConf]{
	"router_id":               key(oneArg, func(n *nodeConf, v string) { n.routerID = v }),
	"lvs_sync_daemon":         readSyncDaemon,
	"vrrp_version":            key(intArg, func(n *nodeConf, v int) { n.version = &v }),
	"vrrp_garp_master_repeat": key(intArg, func(n *nodeConf, v int) { n.garp.Repeat = &v }),
	"vrrp_garp_master_delay":  key(secondsArg, func(n *nodeConf, v model.Duration) { n.garp.RefreshDelay = &v }),
	"vrrp_garp_interval":      key(secondsArg, func(n *nodeConf, v model.Duration) { n.garp.Interval = &v }),
	"script_user": func(im *importer, n *nodeConf, s *Stmt) error {
		v, err := oneArg(s)
		if err != nil {
			return err
		}
		n.scriptUser = v
		if len(s.Args) > 1 {
			im.warn(s.Pos, "global_defs: script_user group %q is not mapped (hakeeper uses the user's group)", s.Args[1])
		}
		return nil
	},
	// hakeeper always refuses scripts writable by others; nothing to map.
	"enable_script_security": func(*importer, *nodeConf, *Stmt) error { return nil },
	"vrrp_strict": func(im *importer, _ *nodeConf, s *Stmt) error {
		im.warn(s.Pos, "global_defs: vrrp_strict is not mapped: hakeeper always follows RFC 5798/3768 on the wire but does not add keepalived's iptables rules")
		return nil
	},
	"notification_email":      mailKey,
	"notification_email_from": mailKey,
	"smtp_server":             mailKey,
	"smtp_connect_timeout":    mailKey,
	"smtp_alert":              mailKey,
	"smtp_helo_name":          mailKey,
}

func mailKey(im *importer, _ *nodeConf, s *Stmt) error {
	im.warn(s.Pos, "global_defs: %s (e-mail notification) is not mapped: use notify hooks or the metrics endpoint instead", s.Keyword)
	return nil
}

func (im *importer) readGlobal(n *nodeConf, g *Stmt) error {
	for _, s := range g.Block {
		n.at[s.Keyword] = s.Pos
		if strings.HasPrefix(s.Keyword, "vrrp_garp_") && globalKeys[s.Keyword] != nil {
			n.at["vrrp_garp"] = s.Pos
		}
	}
	return readBlock(im, n, g.Block, globalKeys, "global_defs")
}

// posOf is where the global_defs keyword k was, or the node's file.
func (n *nodeConf) posOf(k string) model.Pos { return posOr(n.at[k], n.path) }

// scriptKeys reads the keywords of a vrrp_script block.
var scriptKeys = map[string]handler[scriptConf]{
	"script":   key(scriptArg, func(sc *scriptConf, c model.Command) { sc.check.Command = c }),
	"interval": key(secondsArg, func(sc *scriptConf, v model.Duration) { sc.check.Interval = &v }),
	"timeout":  key(secondsArg, func(sc *scriptConf, v model.Duration) { sc.check.Timeout = &v }),
	"rise":     key(intArg, func(sc *scriptConf, v int) { sc.check.Rise = &v }),
	"fall":     key(intArg, func(sc *scriptConf, v int) { sc.check.Fall = &v }),
	"weight": func(im *importer, sc *scriptConf, s *Stmt) error {
		v, err := intArg(s)
		if err != nil {
			return err
		}
		sc.check.Weight = v
		if len(s.Args) > 1 {
			im.warn(s.Pos, "vrrp_script %s: weight %q is not mapped (only plain weights)", sc.name, strings.Join(s.Args[1:], " "))
		}
		return nil
	},
	"user": key(oneArg, func(sc *scriptConf, v string) { sc.check.User = v }),
}

func (im *importer) readScript(n *nodeConf, b *Stmt) error {
	name, err := oneArg(b)
	if err != nil {
		return err
	}
	sc := &scriptConf{name: name, pos: b.Pos, check: model.TrackCheck{Interval: new(model.Duration(kaScriptInterval))}}
	if err := readBlock(im, sc, b.Block, scriptKeys, "vrrp_script "+name); err != nil {
		return err
	}
	if sc.check.Command.IsZero() {
		return fmt.Errorf("%s: vrrp_script %s has no script", b.Pos, name)
	}
	n.scripts = append(n.scripts, sc)
	return nil
}

// notifyKeys reads the notify keywords of vrrp_instance and
// vrrp_sync_group.
var notifyKeys = map[string]handler[hooks]{
	"notify_master": notifyKey(func(n *model.Notify) *model.Command { return &n.Master }),
	"notify_backup": notifyKey(func(n *model.Notify) *model.Command { return &n.Backup }),
	"notify_fault":  notifyKey(func(n *model.Notify) *model.Command { return &n.Fault }),
	"notify_stop":   notifyKey(func(n *model.Notify) *model.Command { return &n.Stop }),
	"notify": func(im *importer, h *hooks, s *Stmt) error {
		im.warn(s.Pos, "%s: notify (one script for every state, called with INSTANCE|GROUP name state priority) is not mapped: use notify_master/backup/fault/stop hooks, which hakeeper calls with group, state and priority", h.where)
		return nil
	},
}

// notifyKey reads a notify_* keyword into the hook field selects.
func notifyKey(field func(*model.Notify) *model.Command) handler[hooks] {
	return func(im *importer, h *hooks, s *Stmt) error {
		if len(s.Args) == 0 {
			return argErr(s, "missing script")
		}
		if h.notify == nil {
			h.notify = &model.Notify{}
		}
		*field(h.notify) = importCommand(s.Args[0])
		if len(s.Args) > 1 {
			if u := h.notify.User; u != "" && u != s.Args[1] {
				im.warn(s.Pos, "%s: %s runs as %s but another notify script as %s; hakeeper runs all notify hooks of a group as one user (%s)", h.where, s.Keyword, s.Args[1], u, u)
			} else {
				h.notify.User = s.Args[1]
			}
		}
		return nil
	}
}

// instanceKeys reads the keywords of a vrrp_instance block.
var instanceKeys = withKeys(map[string]handler[instConf]{
	// state is informational: hakeeper starts every non-owner as backup,
	// as keepalived does; it matters only for nopreempt.
	"state":              key(oneArg, func(in *instConf, v string) { in.state = strings.ToUpper(v) }),
	"interface":          key(oneArg, func(in *instConf, v string) { in.iface = v }),
	"virtual_router_id":  key(intArg, func(in *instConf, v int) { in.vrid = v }),
	"priority":           key(intArg, func(in *instConf, v int) { in.priority = v }),
	"advert_int":         key(secondsArg, func(in *instConf, v model.Duration) { in.settings.AdvertInterval = &v }),
	"nopreempt":          flagKey(func(in *instConf) { in.settings.Preempt = new(false) }),
	"preempt":            flagKey(func(in *instConf) { in.settings.Preempt = new(true) }),
	"preempt_delay":      key(secondsArg, func(in *instConf, v model.Duration) { in.settings.PreemptDelay = &v }),
	"version":            key(intArg, func(in *instConf, v int) { in.settings.Version = &v }),
	"vrrp_version":       key(intArg, func(in *instConf, v int) { in.settings.Version = &v }),
	"garp_master_delay":  key(secondsArg, func(in *instConf, v model.Duration) { in.garp().RefreshDelay = &v }),
	"garp_master_repeat": key(intArg, func(in *instConf, v int) { in.garp().Repeat = &v }),
	"garp_interval":      key(secondsArg, func(in *instConf, v model.Duration) { in.garp().Interval = &v }),
	"authentication":     (*importer).readAuth,
	"unicast_src_ip":     key(addrArg, func(in *instConf, a netip.Addr) { in.unicast = a }),
	"mcast_src_ip":       key(addrArg, func(in *instConf, a netip.Addr) { in.mcastSrc = a }),
	"unicast_peer":       (*importer).readPeers,
	"virtual_ipaddress": func(im *importer, in *instConf, s *Stmt) error {
		return im.readVIPs(in, s, false)
	},
	// Read last, so the family of the instance comes from virtual_ipaddress.
	"virtual_ipaddress_excluded": func(_ *importer, in *instConf, s *Stmt) error {
		in.excluded = append(in.excluded, s)
		return nil
	},
	"track_script":    (*importer).readTrackScripts,
	"track_interface": (*importer).readTrackInterfaces,
}, notifyKeys, func(in *instConf) *hooks { return &in.hooks })

func (in *instConf) garp() *model.GARPSettings {
	if in.settings.GARP == nil {
		in.settings.GARP = &model.GARPSettings{}
	}
	return in.settings.GARP
}

func (im *importer) readPeers(in *instConf, s *Stmt) error {
	in.settings.Unicast = new(true)
	for _, p := range s.Block {
		a, err := netip.ParseAddr(p.Keyword)
		if err != nil {
			return fmt.Errorf("%s: unicast_peer: %q is not an IP address", p.Pos, p.Keyword)
		}
		if len(p.Args) > 0 {
			im.warn(p.Pos, "%s: unicast_peer options %q are not mapped", in.where, strings.Join(p.Args, " "))
		}
		in.peers = append(in.peers, a)
	}
	return nil
}

// trackWeight reads the optional "weight N" after a tracked name; rest
// is whatever follows it.
func trackWeight(t *Stmt) (w *int, rest []string, err error) {
	if len(t.Args) < 2 || t.Args[0] != "weight" {
		return nil, t.Args, nil
	}
	v, err := intArg(&Stmt{Pos: t.Pos, Keyword: "weight", Args: t.Args[1:]})
	if err != nil {
		return nil, nil, err
	}
	return &v, t.Args[2:], nil
}

func (im *importer) readTrackScripts(in *instConf, s *Stmt) error {
	for _, t := range s.Block {
		w, rest, err := trackWeight(t)
		if err != nil {
			return err
		}
		if len(rest) > 0 {
			im.warn(t.Pos, "%s: track_script %s: %q is not mapped", in.where, t.Keyword, strings.Join(rest, " "))
		}
		in.tracks = append(in.tracks, model.TrackCheckRef{Check: t.Keyword, Weight: w})
	}
	return nil
}

func (im *importer) readTrackInterfaces(in *instConf, s *Stmt) error {
	for _, t := range s.Block {
		w, rest, err := trackWeight(t)
		if err != nil {
			return err
		}
		ti := model.TrackInterface{Interface: t.Keyword}
		switch {
		case w != nil:
			ti.Weight = *w
		case len(rest) > 0:
			im.warn(t.Pos, "%s: track_interface %s: %q is not mapped", in.where, t.Keyword, strings.Join(rest, " "))
		}
		in.trackIfs = append(in.trackIfs, ti)
	}
	return nil
}

func (im *importer) readInstance(n *nodeConf, b *Stmt) error {
	name, err := oneArg(b)
	if err != nil {
		return err
	}
	in := &instConf{hooks: hooks{where: "vrrp_instance " + name}, node: n, name: name, pos: b.Pos, at: map[string]model.Pos{}}
	for _, s := range b.Block {
		in.at[s.Keyword] = s.Pos
		if strings.HasPrefix(s.Keyword, "notify_") && notifyKeys[s.Keyword] != nil {
			in.at["notify"] = s.Pos
		}
	}
	if err := readBlock(im, in, b.Block, instanceKeys, in.where); err != nil {
		return err
	}
	if err := im.checkInstance(in); err != nil {
		return err
	}
	for _, s := range in.excluded {
		if err := im.readVIPs(in, s, true); err != nil {
			return err
		}
	}
	if len(in.vips) == 0 {
		return fmt.Errorf("%s: %s has no virtual_ipaddress", b.Pos, in.where)
	}
	if in.unicast.IsValid() && len(in.peers) == 0 {
		im.warn(in.at["unicast_src_ip"], "%s: unicast_src_ip without unicast_peer: keepalived still sends multicast; imported as multicast", in.where)
	}
	n.instances = append(n.instances, in)
	return nil
}

// checkInstance applies keepalived's defaults and its rules for
// combinations it ignores.
func (im *importer) checkInstance(in *instConf) error {
	if in.iface == "" {
		return fmt.Errorf("%s: %s has no interface", in.pos, in.where)
	}
	if in.vrid == 0 {
		return fmt.Errorf("%s: %s has no virtual_router_id", in.pos, in.where)
	}
	in.priority = cmp.Or(in.priority, 100) // keepalived's default priority
	// keepalived ignores nopreempt on an instance that starts as MASTER,
	// and preempt_delay together with nopreempt.
	if in.state == "MASTER" && in.settings.PreemptDelay != nil && (in.settings.Preempt == nil || *in.settings.Preempt) {
		im.warn(in.at["preempt_delay"], "%s: preempt_delay with state MASTER: keepalived ignores the delay (dropped)", in.where)
		in.settings.PreemptDelay = nil
	}
	if p := in.settings.Preempt; p != nil && !*p {
		if in.state == "MASTER" {
			im.warn(in.at["nopreempt"], "%s: nopreempt with state MASTER: keepalived ignores nopreempt (and preempt_delay), so preemption stays on", in.where)
			in.settings.Preempt, in.settings.PreemptDelay = nil, nil
		} else if in.settings.PreemptDelay != nil {
			im.warn(in.at["preempt_delay"], "%s: preempt_delay with nopreempt: keepalived ignores the delay (dropped)", in.where)
			in.settings.PreemptDelay = nil
		}
	}
	return nil
}

func (im *importer) readAuth(in *instConf, b *Stmt) error {
	typ := ""
	for _, s := range b.Block {
		switch s.Keyword {
		case "auth_type":
			v, err := oneArg(s)
			if err != nil {
				return err
			}
			typ = strings.ToUpper(v)
		case "auth_pass":
			v, err := oneArg(s)
			if err != nil {
				return err
			}
			in.authPass = v
			in.at["auth_pass"] = s.Pos
		default:
			im.unmapped(s, in.where+" authentication")
		}
	}
	switch typ {
	case "PASS":
		in.auth = &model.Auth{Type: "pass"}
	case "AH":
		im.warn(b.Pos, "%s: auth_type AH is not supported by hakeeper (and not by RFC 3768's successors); authentication dropped", in.where)
	default:
		return fmt.Errorf("%s: %s: authentication without auth_type PASS or AH", b.Pos, in.where)
	}
	return nil
}

func (im *importer) readVIPs(in *instConf, b *Stmt, excluded bool) error {
	for _, s := range b.Block {
		addr := s.Keyword
		pfx, err := parseVIP(addr)
		if err != nil {
			return fmt.Errorf("%s: %s: %q is not an IP address or prefix", s.Pos, b.Keyword, addr)
		}
		fam := model.IPv4
		if pfx.Addr().Is6() {
			fam = model.IPv6
		}
		if in.family == "" {
			in.family = fam
		} else if in.family != fam {
			im.warn(s.Pos, "%s: %s %s is of another address family than the instance's first VIP: hakeeper groups are one family; put it in its own VIP group (dropped)", in.where, b.Keyword, addr)
			continue
		}
		if excluded {
			im.warn(s.Pos, "%s: virtual_ipaddress_excluded %s imported as an ordinary VIP (hakeeper lists every VIP in its adverts)", in.where, addr)
		}
		vip := model.VIP{Address: addr}
		for i := 0; i < len(s.Args); i++ {
			opt := s.Args[i]
			val := ""
			if i+1 < len(s.Args) {
				val = s.Args[i+1]
			}
			switch opt {
			case "dev":
				vip.Device = val
				i++
			case "label":
				vip.Label = val
				i++
			case "brd", "broadcast", "scope", "metric", "preferred_lft":
				im.warn(s.Pos, "%s: VIP %s: %s %s is not mapped (hakeeper derives broadcast and uses scope global)", in.where, addr, opt, val)
				i++
			default:
				im.warn(s.Pos, "%s: VIP %s: option %q is not mapped", in.where, addr, opt)
			}
		}
		in.vips = append(in.vips, vip)
	}
	return nil
}

func parseVIP(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// syncKeys reads the keywords of a vrrp_sync_group block.
var syncKeys = withKeys(map[string]handler[syncConf]{
	"group": func(_ *importer, sc *syncConf, s *Stmt) error {
		for _, g := range s.Block {
			sc.groups = append(sc.groups, g.Keyword)
			sc.groups = append(sc.groups, g.Args...)
		}
		return nil
	},
}, notifyKeys, func(sc *syncConf) *hooks { return &sc.hooks })

func (im *importer) readSync(n *nodeConf, b *Stmt) error {
	name, err := oneArg(b)
	if err != nil {
		return err
	}
	sc := &syncConf{hooks: hooks{where: "vrrp_sync_group " + name}, name: name, pos: b.Pos}
	if err := readBlock(im, sc, b.Block, syncKeys, sc.where); err != nil {
		return err
	}
	n.syncs = append(n.syncs, sc)
	return nil
}

// srcAddr is the address the instance sends adverts from when its
// keepalived.conf states it (keepalived reads unicast_src_ip and
// mcast_src_ip as that one setting), and the keyword that states it. An
// IPv6 link-local source says nothing about the node's address6.
func (in *instConf) srcAddr() (netip.Addr, string) {
	if in.unicast.IsValid() {
		return in.unicast, "unicast_src_ip"
	}
	if in.mcastSrc.IsValid() && !in.mcastSrc.IsLinkLocalUnicast() {
		return in.mcastSrc, "mcast_src_ip"
	}
	return netip.Addr{}, ""
}
