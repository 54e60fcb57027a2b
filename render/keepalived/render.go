package keepalived

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hakeeper/hakeeper/model"
)

// RenderOptions tune Render.
type RenderOptions struct {
	// WithSecrets reads VRRP passwords from their secret file or
	// environment variable into auth_pass. Without it a clearly marked
	// placeholder is written, so the output can be shared.
	WithSecrets bool
}

// secretPlaceholder is written as auth_pass when secrets are not read
// (8 characters: keepalived truncates longer passwords).
const secretPlaceholder = "CHANGEME"

// Render writes the keepalived.conf that makes keepalived do what
// hakeeper does on this node. Where keepalived cannot express a setting
// the output carries a "# hakeeper:" comment saying so.
func Render(st *model.NodeState, opts RenderOptions) ([]byte, error) {
	if st.BGP != nil {
		// Half a node (its IPVS without the announcements) would serve
		// nothing, or attract traffic it should not.
		return nil, fmt.Errorf("node %s announces VIPs over BGP (%s): keepalived has no BGP speaker", st.Node, bgpGroupNames(st.BGP))
	}
	r := &renderer{opts: opts}
	r.p(0, "! keepalived.conf for node %s of cluster %s, rendered by `hakeeper render keepalived`.", st.Node, st.Cluster)
	r.p(0, "! Generated: edit the cluster description, not this file.")
	r.global(st)
	for _, c := range st.Checks {
		r.script(c)
	}
	for _, sg := range st.SyncGroups {
		r.syncGroup(sg)
	}
	for i := range st.Instances {
		if err := r.instance(&st.Instances[i]); err != nil {
			return nil, err
		}
	}
	for i := range st.Services {
		r.service(&st.Services[i])
	}
	return r.b.Bytes(), nil
}

type renderer struct {
	b    bytes.Buffer
	opts RenderOptions
	// scriptUser is the global script_user; scripts running as another
	// user name theirs.
	scriptUser string
}

func (r *renderer) p(indent int, format string, a ...any) {
	r.b.WriteString(strings.Repeat("    ", indent))
	fmt.Fprintf(&r.b, format, a...)
	r.b.WriteByte('\n')
}

// seconds writes a duration as keepalived's decimal seconds.
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

// quoteArg quotes one argv word for a keepalived script string.
func quoteArg(a string) string {
	if a != "" && !strings.ContainsAny(a, " \t'\"") {
		return a
	}
	if !strings.Contains(a, "'") {
		return "'" + a + "'"
	}
	return `"` + a + `"`
}

// script turns a Command into keepalived's quoted script string.
// keepalived never runs a shell, so the shell form is spelled out.
func script(c model.Command) string {
	var words []string
	if c.Shell != "" && shellSafe(c.Shell) {
		words = strings.Fields(c.Shell)
	} else {
		for _, a := range c.Args() {
			words = append(words, quoteArg(a))
		}
	}
	s := strings.Join(words, " ")
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}

func (r *renderer) global(st *model.NodeState) {
	// One global script_user: the most common user among scripts (root
	// when they run as the daemon's own user, which keepalived would
	// otherwise replace by keepalived_script).
	count := map[string]int{}
	add := func(u string) { count[runAs(u)]++ }
	for _, c := range st.Checks {
		add(c.User)
	}
	for _, in := range st.Instances {
		if in.Notify.HasHooks() {
			add(in.Notify.User)
		}
	}
	for _, sg := range st.SyncGroups {
		if sg.Notify.HasHooks() {
			add(sg.Notify.User)
		}
	}
	for _, vs := range st.Services {
		for _, rs := range vs.RealServers {
			if rs.Check != nil && rs.Check.Type == "exec" {
				add(rs.Check.User)
			}
		}
	}
	r.p(0, "global_defs {")
	r.p(1, "router_id %s", st.Node)
	if cs := st.ConnectionSync; cs != nil {
		r.p(1, "lvs_sync_daemon %s %s id %d maxlen %d port %d ttl %d group %s", cs.Interface, cs.Group, cs.SyncID, cs.MaxPacketSize, cs.Port, cs.TTL, cs.MulticastGroup)
	}
	if len(count) > 0 {
		// Ties go to the smaller name, so the output is stable.
		r.scriptUser = slices.MinFunc(slices.Collect(maps.Keys(count)), func(a, b string) int {
			return cmp.Or(cmp.Compare(count[b], count[a]), strings.Compare(a, b))
		})
		r.p(1, "script_user %s", r.scriptUser)
		r.p(1, "enable_script_security")
	}
	r.p(0, "}")
}

// runAs is the user a script runs as: root when the spec names none
// (the daemon's own user).
func runAs(u string) string { return cmp.Or(u, "root") }

// userSuffix is the user argument of a script keyword: none when the
// script runs as the global script_user.
func (r *renderer) userSuffix(u string) string {
	if u = runAs(u); u == r.scriptUser {
		return ""
	}
	return " " + u
}

func (r *renderer) script(c model.TrackCheckSpec) {
	r.p(0, "vrrp_script %s {", c.Name)
	r.p(1, "script %s", script(c.Command))
	r.p(1, "interval %s", seconds(c.Interval))
	if c.Timeout > 0 {
		r.p(1, "timeout %s", seconds(c.Timeout))
	}
	r.p(1, "rise %d", c.Rise)
	r.p(1, "fall %d", c.Fall)
	r.p(1, "weight %d", c.Weight)
	if u := r.userSuffix(c.User); u != "" {
		r.p(1, "user%s", u)
	}
	r.p(0, "}")
}

func (r *renderer) notify(indent int, n model.NotifySpec) {
	u := r.userSuffix(n.User)
	for _, h := range []struct {
		kw  string
		cmd model.Command
	}{{"notify_master", n.Master}, {"notify_backup", n.Backup}, {"notify_fault", n.Fault}, {"notify_stop", n.Stop}} {
		if !h.cmd.IsZero() {
			r.p(indent, "%s %s%s", h.kw, script(h.cmd), u)
		}
	}
	if n.HasHooks() && n.Timeout != model.DefaultNotifyTimeout {
		r.p(indent, "# hakeeper: notify timeout %s is not expressible in keepalived", n.Timeout)
	}
}

func (r *renderer) syncGroup(sg model.SyncGroupSpec) {
	r.p(0, "vrrp_sync_group %s {", sg.Name)
	r.p(1, "group {")
	for _, g := range sg.Instances {
		r.p(2, "%s", g)
	}
	r.p(1, "}")
	r.notify(1, sg.Notify)
	r.p(0, "}")
}

func (r *renderer) instance(in *model.Instance) error {
	r.p(0, "vrrp_instance %s {", in.Name)
	state := strings.ToUpper(string(in.InitialState)) // Desired starts backup, or master as the owner
	r.p(1, "state %s", state)
	r.p(1, "interface %s", in.Interface)
	r.p(1, "virtual_router_id %d", in.VRID)
	r.p(1, "priority %d", in.Priority)
	r.p(1, "version %d", in.Version)
	r.p(1, "advert_int %s", seconds(in.AdvertInterval))
	if !in.Preempt {
		r.p(1, "nopreempt")
	}
	if in.PreemptDelay > 0 {
		if in.Preempt && state == "BACKUP" {
			r.p(1, "preempt_delay %s", seconds(in.PreemptDelay))
		} else {
			r.p(1, "# hakeeper: preempt_delay %s is not expressible: keepalived ignores it with nopreempt or state MASTER", seconds(in.PreemptDelay))
		}
	}
	r.p(1, "garp_master_delay %s", seconds(in.GARP.RefreshDelay))
	r.p(1, "garp_master_repeat %d", in.GARP.Repeat)
	if in.GARP.Interval > 0 {
		r.p(1, "garp_interval %s", seconds(in.GARP.Interval))
	}
	if in.Auth != nil {
		pass := ""
		if r.opts.WithSecrets {
			var err error
			if pass, err = in.Auth.ReadSecret(); err != nil {
				return fmt.Errorf("vrrp_instance %s: %w", in.Name, err)
			}
		}
		r.p(1, "authentication {")
		r.p(2, "auth_type PASS")
		if pass == "" {
			src := in.Auth.SecretFile
			if in.Auth.SecretEnv != "" {
				src = "$" + in.Auth.SecretEnv
			}
			r.p(2, "# hakeeper: placeholder; the password is in %s (render --with-secrets to fill it in)", src)
			pass = secretPlaceholder
		}
		r.p(2, "auth_pass %s", pass)
		r.p(1, "}")
	}
	if in.Unicast {
		if in.SourceAddress.IsValid() {
			r.p(1, "unicast_src_ip %s", in.SourceAddress)
		}
		r.p(1, "unicast_peer {")
		for _, p := range in.Peers {
			r.p(2, "%s", p)
		}
		r.p(1, "}")
	}
	r.p(1, "virtual_ipaddress {")
	for _, v := range in.VIPs {
		line := v.Prefix.String() + " dev " + v.Device
		if v.Label != "" {
			line += " label " + v.Label
		}
		r.p(2, "%s", line)
	}
	r.p(1, "}")
	if len(in.TrackChecks) > 0 {
		r.p(1, "track_script {")
		for _, t := range in.TrackChecks {
			r.p(2, "%s weight %d", t.Check, t.Weight)
		}
		r.p(1, "}")
	}
	if len(in.TrackInterfaces) > 0 {
		r.p(1, "track_interface {")
		for _, t := range in.TrackInterfaces {
			if t.Weight != 0 {
				r.p(2, "%s weight %d", t.Interface, t.Weight)
			} else {
				r.p(2, "%s", t.Interface)
			}
		}
		r.p(1, "}")
	}
	r.notify(1, in.Notify)
	r.p(0, "}")
	return nil
}

func (r *renderer) service(vs *model.VirtualService) {
	if vs.FWMark != 0 {
		if vs.Group != "" {
			r.p(0, "virtual_server fwmark %d {   # %s group %s", vs.FWMark, vs.Name, vs.Group)
		} else {
			r.p(0, "virtual_server fwmark %d {   # %s", vs.FWMark, vs.Name)
		}
		if vs.Family == model.IPv6 {
			r.p(1, "ip_family inet6")
		}
	} else {
		r.p(0, "virtual_server %s %d {   # %s", vs.Address, vs.Port, vs.Name)
		r.p(1, "protocol %s", strings.ToUpper(string(vs.Protocol)))
	}
	r.p(1, "lb_algo %s", vs.Scheduler)
	for _, f := range vs.SchedulerFlags {
		r.p(1, "%s", f)
	}
	r.p(1, "lb_kind %s", strings.ToUpper(string(vs.Forwarding)))
	if vs.Persistence > 0 {
		r.p(1, "persistence_timeout %d", int(vs.Persistence.Seconds()))
		// A mask of the whole address is keepalived's default.
		switch m := vs.PersistenceMask; {
		case m == 0:
		case vs.Family == model.IPv6 && m != 128:
			r.p(1, "persistence_granularity %d", m)
		case vs.Family != model.IPv6 && m != 32:
			r.p(1, "persistence_granularity %s", net.IP(net.CIDRMask(m, 32)))
		}
	}
	r.p(1, "quorum %d", vs.Quorum)
	if vs.Drain {
		r.p(1, "inhibit_on_failure")
	}
	if vs.StartDown {
		r.p(1, "alpha")
	}
	if s := vs.SorryServer; s != nil {
		if s.Port != 0 && vs.FWMark == 0 {
			r.p(1, "sorry_server %s %d", s.Address, s.Port)
		} else {
			r.p(1, "sorry_server %s", s.Address)
		}
	}
	for _, rs := range vs.RealServers {
		r.realServer(vs, &rs)
	}
	r.p(0, "}")
}

func (r *renderer) realServer(vs *model.VirtualService, rs *model.RealServerSpec) {
	if rs.Port != 0 {
		r.p(1, "real_server %s %d {", rs.Address, rs.Port)
	} else {
		r.p(1, "real_server %s {", rs.Address)
	}
	r.p(2, "weight %d", rs.Weight)
	if rs.UpperThreshold != 0 {
		r.p(2, "uthreshold %d", rs.UpperThreshold)
	}
	if rs.LowerThreshold != 0 {
		r.p(2, "lthreshold %d", rs.LowerThreshold)
	}
	if c := rs.Check; c != nil {
		r.checker(rs, c)
	}
	r.p(1, "}")
}

func (r *renderer) checker(rs *model.RealServerSpec, c *model.CheckSpec) {
	kw := checkerKeywords[c.Type]
	if kw == "" {
		r.p(2, "# hakeeper: check type %q has no keepalived checker", c.Type)
		return
	}
	r.p(2, "%s {", kw)
	if c.Type == "exec" {
		r.p(3, "misc_path %s", script(c.Exec.Command))
		r.p(3, "misc_timeout %d", max(1, int((c.Timeout+time.Second-1)/time.Second)))
		if u := r.userSuffix(c.User); u != "" {
			r.p(3, "user%s", u)
		}
		r.p(3, "# hakeeper: appends the server address and port to the command; keepalived does not")
	} else {
		r.p(3, "connect_timeout %s", seconds(c.Timeout))
		if c.Port != 0 && c.Port != rs.Port {
			r.p(3, "connect_port %d", c.Port)
		}
	}
	r.p(3, "delay_loop %s", seconds(c.Interval))
	r.p(3, "retry %d", c.Retries)
	if c.Rise != 1 || c.Fall != 1 {
		r.p(3, "# hakeeper: rise %d / fall %d are not expressible in keepalived", c.Rise, c.Fall)
	}
	switch c.Type {
	case "http", "https":
		h := c.HTTP
		r.p(3, "url {")
		r.p(4, "path %s", h.Path)
		// keepalived separates the ranges with blanks.
		r.p(4, "status_code %s", strings.ReplaceAll(h.Status.String(), ",", " "))
		if h.Host != "" {
			r.p(4, "virtualhost %s", h.Host)
		}
		if h.BodyRegex != "" {
			r.p(4, "regex %s", script(model.Command{Argv: []string{h.BodyRegex}}))
		}
		if h.Body != "" {
			r.p(4, "# hakeeper: body substring %q is not expressible in keepalived", h.Body)
		}
		r.p(3, "}")
		if c.Type == "https" {
			if h.SNI != "" || h.Host != "" {
				r.p(3, "enable_sni")
			}
			if !h.InsecureSkipVerify {
				r.p(3, "# hakeeper: verifies the server certificate; keepalived's SSL_GET does not")
			}
		}
	case "dns":
		r.p(3, "type %s", c.DNS.Type)
		r.p(3, "name %s", c.DNS.Name)
	case "udp":
		if c.UDP.Payload != "" {
			r.p(3, "payload %s", hex.EncodeToString([]byte(c.UDP.Payload)))
		}
		if c.UDP.RequireReply || c.UDP.Expect != "" {
			r.p(3, "require_reply %s", hex.EncodeToString([]byte(c.UDP.Expect)))
		}
	}
	r.p(2, "}")
}

func bgpGroupNames(b *model.BGPState) string {
	names := make([]string, len(b.Groups))
	for i, g := range b.Groups {
		names[i] = "group " + g.Name
	}
	return strings.Join(names, ", ")
}
