package ipvskernel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/hakeeper/hakeeper/lvs"
)

var _ lvs.SyncDaemons = (*Sync)(nil)

// The IPVS generic netlink family's daemon commands and attributes
// (include/uapi/linux/ip_vs.h). moby/ipvs defines the commands but sends
// none of them.
const (
	ipvsGenlVersion = 1

	cmdNewDaemon = 9
	cmdDelDaemon = 10
	cmdGetDaemon = 11

	cmdAttrDaemon = 3

	daemonState       = 1 // u32
	daemonMcastIfn    = 2 // string
	daemonSyncID      = 3 // u32
	daemonSyncMaxLen  = 4 // u16, kernel >= 4.3 like the four below
	daemonMcastGroup  = 5 // in_addr
	daemonMcastGroup6 = 6 // in6_addr
	daemonMcastPort   = 7 // be16
	daemonMcastTTL    = 8 // u8

	// nlaTypeMask strips the nested and byte-order flags from a type.
	nlaTypeMask = ^uint16(unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
)

// replyTimeout bounds the wait for the kernel's answer, in seconds. A
// stop that finds the daemon's thread not yet running gets -EINTR from
// kthread_stop (Linux 6.1), and netlink sends no ack at all for -EINTR:
// without a bound the request would wait forever.
const replyTimeout = 5

// Sync is one network namespace's IPVS sync daemons, on the IPVS generic
// netlink family through vishvananda/netlink's nl package.
type Sync struct {
	sock   *nl.SocketHandle
	family uint16
}

// NewSync opens the sync daemons of the network namespace at nsPath (""
// for the current one). The ip_vs module must be loaded.
func NewSync(nsPath string) (*Sync, error) {
	ns := netns.None()
	if nsPath != "" {
		var err error
		if ns, err = netns.GetFromPath(nsPath); err != nil {
			return nil, fmt.Errorf("open network namespace %s: %w", nsPath, err)
		}
		defer ns.Close()
	}
	s, err := nl.GetNetlinkSocketAt(ns, netns.None(), unix.NETLINK_GENERIC)
	if err != nil {
		return nil, fmt.Errorf("open generic netlink in %q: %w", nsPath, err)
	}
	s.SetReceiveTimeout(&unix.Timeval{Sec: replyTimeout})
	k := &Sync{sock: &nl.SocketHandle{Socket: s}}
	if k.family, err = k.ipvsFamily(); err != nil {
		k.Close()
		return nil, fmt.Errorf("IPVS unavailable (is the ip_vs module loaded?): %w", err)
	}
	return k, nil
}

// Close releases the netlink socket.
func (k *Sync) Close() { k.sock.Close() }

// execute sends one request on the namespace's socket and returns the
// attributes of each reply.
func (k *Sync) execute(family uint16, flags int, cmd, version uint8, attrs ...nl.NetlinkRequestData) ([][]byte, error) {
	req := nl.NewNetlinkRequest(int(family), flags)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_GENERIC: k.sock}
	req.AddData(&nl.Genlmsg{Command: cmd, Version: version})
	for _, a := range attrs {
		req.AddData(a)
	}
	msgs, err := req.Execute(unix.NETLINK_GENERIC, 0)
	for i, m := range msgs {
		if len(m) < 4 {
			return nil, fmt.Errorf("short generic netlink reply of %d bytes", len(m))
		}
		msgs[i] = m[4:] // the generic netlink header
	}
	return msgs, err
}

func (k *Sync) ipvsFamily() (uint16, error) {
	msgs, err := k.execute(nl.GENL_ID_CTRL, 0, nl.GENL_CTRL_CMD_GETFAMILY, nl.GENL_CTRL_VERSION,
		nl.NewRtAttr(nl.GENL_CTRL_ATTR_FAMILY_NAME, nl.ZeroTerminated("IPVS")))
	if err != nil {
		return 0, err
	}
	for _, m := range msgs {
		attrs, err := nl.ParseRouteAttr(m)
		if err != nil {
			return 0, err
		}
		for _, a := range attrs {
			if a.Attr.Type == nl.GENL_CTRL_ATTR_FAMILY_ID && len(a.Value) >= 2 {
				return nl.NativeEndian().Uint16(a.Value), nil
			}
		}
	}
	return 0, fmt.Errorf("no IPVS generic netlink family")
}

// SyncDaemons lists the running daemons, master first.
func (k *Sync) SyncDaemons() ([]lvs.SyncDaemon, error) {
	msgs, err := k.execute(k.family, unix.NLM_F_DUMP, cmdGetDaemon, ipvsGenlVersion)
	if err != nil {
		return nil, fmt.Errorf("list IPVS sync daemons: %w", err)
	}
	var out []lvs.SyncDaemon
	for _, m := range msgs {
		attrs, err := nl.ParseRouteAttr(m)
		if err != nil {
			return nil, err
		}
		for _, a := range attrs {
			if a.Attr.Type&nlaTypeMask != cmdAttrDaemon {
				continue
			}
			d, err := parseDaemon(a.Value)
			if err != nil {
				return nil, err
			}
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b lvs.SyncDaemon) int { return int(a.State) - int(b.State) })
	return out, nil
}

func parseDaemon(b []byte) (lvs.SyncDaemon, error) {
	attrs, err := nl.ParseRouteAttr(b)
	if err != nil {
		return lvs.SyncDaemon{}, fmt.Errorf("IPVS sync daemon attributes: %w", err)
	}
	var d lvs.SyncDaemon
	native := nl.NativeEndian()
	for _, a := range attrs {
		v := a.Value
		switch t := a.Attr.Type & nlaTypeMask; {
		case t == daemonState && len(v) >= 4:
			d.State = lvs.SyncState(native.Uint32(v))
		case t == daemonMcastIfn:
			d.Interface = nl.BytesToString(v)
		case t == daemonSyncID && len(v) >= 4:
			d.SyncID = uint8(native.Uint32(v))
		case t == daemonSyncMaxLen && len(v) >= 2:
			d.MaxLen = native.Uint16(v)
		case t == daemonMcastGroup && len(v) == 4, t == daemonMcastGroup6 && len(v) == 16:
			d.Group, _ = netip.AddrFromSlice(v)
		case t == daemonMcastPort && len(v) >= 2:
			d.Port = binary.BigEndian.Uint16(v)
		case t == daemonMcastTTL && len(v) >= 1:
			d.TTL = v[0]
		}
	}
	// A kernel before 4.3 reports none of the multicast settings: it
	// uses its defaults, which Normalize fills in.
	return d.Normalize(), nil
}

// StartSyncDaemon starts d, normalized: the kernel gets every setting
// explicitly, so what it reports back compares equal.
func (k *Sync) StartSyncDaemon(d lvs.SyncDaemon) error {
	d = d.Normalize()
	a := nl.NewRtAttr(cmdAttrDaemon, nil)
	a.AddRtAttr(daemonState, nl.Uint32Attr(uint32(d.State)))
	a.AddRtAttr(daemonMcastIfn, nl.ZeroTerminated(d.Interface))
	a.AddRtAttr(daemonSyncID, nl.Uint32Attr(uint32(d.SyncID)))
	a.AddRtAttr(daemonSyncMaxLen, nl.Uint16Attr(d.MaxLen))
	if d.Group.Is4() {
		a.AddRtAttr(daemonMcastGroup, d.Group.AsSlice())
	} else {
		a.AddRtAttr(daemonMcastGroup6, d.Group.AsSlice())
	}
	a.AddRtAttr(daemonMcastPort, nl.BEUint16Attr(d.Port))
	a.AddRtAttr(daemonMcastTTL, nl.Uint8Attr(d.TTL))
	if _, err := k.execute(k.family, unix.NLM_F_ACK, cmdNewDaemon, ipvsGenlVersion, a); err != nil {
		return fmt.Errorf("start IPVS sync daemon %s: %w", d, err)
	}
	return nil
}

// StopSyncDaemon stops the daemon in state.
func (k *Sync) StopSyncDaemon(state lvs.SyncState) error {
	a := nl.NewRtAttr(cmdAttrDaemon, nil)
	a.AddRtAttr(daemonState, nl.Uint32Attr(uint32(state)))
	_, err := k.execute(k.family, unix.NLM_F_ACK, cmdDelDaemon, ipvsGenlVersion, a)
	if errors.Is(err, unix.EAGAIN) {
		// No answer (see replyTimeout): the daemon is gone if the
		// kernel no longer lists it.
		running, lerr := k.SyncDaemons()
		if lerr == nil && !slices.ContainsFunc(running, func(d lvs.SyncDaemon) bool { return d.State == state }) {
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("stop IPVS %s sync daemon: %w", state, err)
	}
	return nil
}
