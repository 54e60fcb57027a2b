package plan

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

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
	parts := make([]string, len(p))
	for i, np := range p {
		parts[i] = np.Node + " (" + strconv.Itoa(int(np.Priority)) + ")"
	}
	return strings.Join(parts, ", ")
}

// VIPList joins VIPNames.
func VIPList(vips []model.VIPSpec) string {
	parts := make([]string, len(vips))
	for i, v := range vips {
		parts[i] = VIPName(v)
	}
	return strings.Join(parts, ", ")
}

// AddrList joins addresses.
func AddrList(addrs []netip.Addr) string {
	parts := make([]string, len(addrs))
	for i, a := range addrs {
		parts[i] = a.String()
	}
	return strings.Join(parts, ", ")
}

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
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = t.Interface + " (" + weight(t.Weight) + ")"
	}
	return strings.Join(parts, ", ")
}

// TrackChecks is "nginx (weight -10)".
func TrackChecks(ts []model.TrackedCheck) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = t.Check + " (" + weight(t.Weight) + ")"
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
	var b strings.Builder
	// One allocation for the common check; a plan may show 100,000.
	b.Grow(checkStringSize)
	var num [20]byte
	b.WriteString(c.Type)
	switch {
	case c.HTTP != nil:
		b.WriteString(" GET ")
		b.WriteString(c.HTTP.Path)
		if c.HTTP.Host != "" {
			b.WriteString(" host ")
			b.WriteString(c.HTTP.Host)
		}
		if len(c.HTTP.Status) > 0 {
			b.WriteString(" status ")
			b.Write(c.HTTP.Status.Append(num[:0]))
		}
		if c.HTTP.Body != "" {
			b.WriteString(" body ")
			b.WriteString(strconv.Quote(c.HTTP.Body))
		}
		if c.HTTP.BodyRegex != "" {
			b.WriteString(" body~ ")
			b.WriteString(strconv.Quote(c.HTTP.BodyRegex))
		}
		if c.HTTP.InsecureSkipVerify {
			b.WriteString(" insecure")
		}
	case c.Exec != nil:
		b.WriteString(" ")
		b.WriteString(strconv.Quote(c.Exec.Command.String()))
	case c.UDP != nil:
		if c.UDP.Payload != "" {
			b.WriteString(" send ")
			b.WriteString(strconv.Quote(c.UDP.Payload))
		}
		if c.UDP.Expect != "" {
			b.WriteString(" expect ")
			b.WriteString(strconv.Quote(c.UDP.Expect))
		}
		if c.UDP.RequireReply {
			b.WriteString(" require-reply")
		}
	case c.DNS != nil:
		b.WriteString(" ")
		b.WriteString(c.DNS.Type)
		b.WriteString(" ")
		b.WriteString(c.DNS.Name)
	}
	if c.Port != 0 {
		b.WriteString(" port ")
		b.Write(strconv.AppendInt(num[:0], int64(c.Port), 10))
	}
	b.WriteString(", every ")
	writeDuration(&b, c.Interval)
	b.WriteString(" timeout ")
	writeDuration(&b, c.Timeout)
	b.WriteString(", retries ")
	b.Write(strconv.AppendInt(num[:0], int64(c.Retries), 10))
	b.WriteString(", rise ")
	b.Write(strconv.AppendInt(num[:0], int64(c.Rise), 10))
	b.WriteString(" fall ")
	b.Write(strconv.AppendInt(num[:0], int64(c.Fall), 10))
	if c.User != "" {
		b.WriteString(", as ")
		b.WriteString(c.User)
	}
	return b.String()
}

// checkStringSize fits "http GET /healthz status 200 port 8080, every 5s
// timeout 3s, retries 3, rise 2 fall 3" and the like.
const checkStringSize = 112

// writeDuration writes time.Duration.String's text without allocating it
// for whole seconds or milliseconds under a minute (every check timing
// there is); anything else is written by String itself.
func writeDuration(b *strings.Builder, d time.Duration) {
	var buf [24]byte
	switch {
	case d >= time.Second && d < time.Minute && d%time.Second == 0:
		b.Write(strconv.AppendInt(buf[:0], int64(d/time.Second), 10))
		b.WriteString("s")
	case d >= time.Millisecond && d < time.Second && d%time.Millisecond == 0:
		b.Write(strconv.AppendInt(buf[:0], int64(d/time.Millisecond), 10))
		b.WriteString("ms")
	default:
		b.WriteString(d.String())
	}
}

func itoa[I ~int | ~uint8 | ~uint16 | ~uint32](v I) string { return strconv.FormatInt(int64(v), 10) }

func boolStr(v bool) string { return strconv.FormatBool(v) }

func durStr(d time.Duration) string { return d.String() }

func addrStr(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
