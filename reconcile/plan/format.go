package plan

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/hakeeper/hakeeper/model"
)

// The functions in this file turn model values into the strings shown in
// a plan. They are also used by render for `show`, so both read the same.

// VIPName is a VIP as people read it: "192.0.2.10/24 on eth0".
func VIPName(v model.VIPSpec) string {
	s := v.Prefix.String() + " on " + v.Device
	if v.Label != "" {
		s += " label " + v.Label
	}
	return s
}

// InstanceName identifies a VRRP instance by its wire identity.
func InstanceName(in *model.Instance) string {
	return "vrid " + strconv.Itoa(int(in.VRID)) + " on " + in.Interface + " (" + string(in.Family) + ")"
}

// ServiceName is a virtual service as people read it: "tcp 192.0.2.10:80",
// "tcp [2001:db8::10]:443" or "fwmark 7 (ipv4)".
func ServiceName(vs *model.VirtualService) string {
	if vs.FWMark != 0 {
		return "fwmark " + strconv.FormatUint(uint64(vs.FWMark), 10) + " (" + string(vs.Family) + ")"
	}
	return string(vs.Protocol) + " " + netip.AddrPortFrom(vs.Address, vs.Port).String()
}

// RealServerName is "10.0.0.1:80", or the bare address when the port is
// unset (fwmark services forwarding by dr or tun).
func RealServerName(rs *model.RealServerSpec) string {
	if rs.Port == 0 {
		return rs.Address.String()
	}
	return netip.AddrPortFrom(rs.Address, rs.Port).String()
}

// Preference is "lb1 (200), lb2 (100)": who holds the VIPs, then who takes over.
func Preference(p []model.NodePriority) string {
	return join(p, func(np model.NodePriority) string { return np.Node + " (" + strconv.Itoa(int(np.Priority)) + ")" })
}

// VIPList joins VIPNames.
func VIPList(vips []model.VIPSpec) string { return join(vips, VIPName) }

// AddrList joins addresses.
func AddrList(addrs []netip.Addr) string { return join(addrs, netip.Addr.String) }

// AuthString describes authentication without ever showing a secret.
func AuthString(a *model.Auth) string {
	if a == nil {
		return ""
	}
	switch {
	case a.SecretFile != "":
		return a.Type + " (secret from file " + a.SecretFile + ")"
	case a.SecretEnv != "":
		return a.Type + " (secret from $" + a.SecretEnv + ")"
	}
	return a.Type
}

// TrackInterfaces is "eth1 (weight -20), eth2 (fault)".
func TrackInterfaces(ts []model.TrackInterface) string {
	return join(ts, func(t model.TrackInterface) string { return t.Interface + " (" + weight(t.Weight) + ")" })
}

// TrackChecks is "nginx (weight -10)".
func TrackChecks(ts []model.TrackedCheck) string {
	return join(ts, func(t model.TrackedCheck) string { return t.Check + " (" + weight(t.Weight) + ")" })
}

// join shows each element of a list and joins them with ", ".
func join[E any](list []E, show func(E) string) string {
	parts := make([]string, len(list))
	for i, e := range list {
		parts[i] = show(e)
	}
	return strings.Join(parts, ", ")
}

// weight 0 means the tracked object faults the group rather than moving
// its priority.
func weight(w int) string {
	if w == 0 {
		return "fault"
	}
	return "weight " + strconv.Itoa(w)
}

// GARP is "repeat 5, interval 0s, refresh 5s".
func GARP(g model.GARPSpec) string {
	return "repeat " + strconv.Itoa(g.Repeat) + ", interval " + g.Interval.String() + ", refresh " + g.RefreshDelay.String()
}

// Persistence is "" (not persistent) or "300s, netmask /24".
func Persistence(vs *model.VirtualService) string {
	if vs.Persistence == 0 {
		return ""
	}
	s := vs.Persistence.String()
	if vs.PersistenceMask != 0 {
		s += ", netmask /" + strconv.Itoa(vs.PersistenceMask)
	}
	return s
}

// CheckString summarises a health check on one line:
// "http GET / status 200 port 80, every 5s timeout 3s, retries 1, rise 1 fall 1".
func CheckString(c *model.CheckSpec) string {
	if c == nil {
		return "none (always up)"
	}
	s := c.Type
	switch {
	case c.HTTP != nil:
		s += " GET " + c.HTTP.Path
		if c.HTTP.Host != "" {
			s += " host " + c.HTTP.Host
		}
		if len(c.HTTP.Status) > 0 {
			s += " status " + c.HTTP.Status.String()
		}
		if c.HTTP.Body != "" {
			s += " body " + strconv.Quote(c.HTTP.Body)
		}
		if c.HTTP.BodyRegex != "" {
			s += " body~ " + strconv.Quote(c.HTTP.BodyRegex)
		}
		if c.HTTP.InsecureSkipVerify {
			s += " insecure"
		}
	case c.Exec != nil:
		s += " " + strconv.Quote(c.Exec.Command.String())
	case c.UDP != nil:
		if c.UDP.Payload != "" {
			s += " send " + strconv.Quote(c.UDP.Payload)
		}
		if c.UDP.Expect != "" {
			s += " expect " + strconv.Quote(c.UDP.Expect)
		}
		if c.UDP.RequireReply {
			s += " require-reply"
		}
	case c.DNS != nil:
		s += " " + c.DNS.Type + " " + c.DNS.Name
	}
	if c.Port != 0 {
		s += " port " + itoa(c.Port)
	}
	s += ", every " + c.Interval.String() + " timeout " + c.Timeout.String() +
		", retries " + itoa(c.Retries) + ", rise " + itoa(c.Rise) + " fall " + itoa(c.Fall)
	if c.User != "" {
		s += ", as " + c.User
	}
	return s
}

func itoa[I ~int | ~uint8 | ~uint16 | ~uint32](v I) string { return strconv.FormatInt(int64(v), 10) }

func boolStr(v bool) string { return strconv.FormatBool(v) }

func addrStr(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
