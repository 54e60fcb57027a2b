// Package vrrpd is the in-process VRRP engine (RFC 5798 v3, RFC 3768 v2),
// wire-compatible with keepalived. It owns the protocol state machine, the
// instances built from a node's desired state, tracking, notify hooks and
// sync groups. It reaches the kernel only through the small interfaces in
// this file; vrrpd/kernel implements them for real and vrrpd/vrrptest in memory.
package vrrpd

import (
	"context"
	"net/netip"
	"time"

	"github.com/hakeeper/hakeeper/model"
)

// Clock is the engine's only source of time, so tests can step it.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f after d in a goroutine other than the caller's,
	// like time.AfterFunc; callbacks may run one after another in one
	// goroutine, so f must not block for long.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a stoppable timer from a Clock.
type Timer interface {
	// Stop prevents the timer from firing; it reports whether it was active.
	Stop() bool
}

// RecvMeta describes a received VRRP packet.
type RecvMeta struct {
	Src netip.Addr // IP source
	Dst netip.Addr // IP destination (multicast group or our unicast address)
	// TTL (IPv4) or hop limit (IPv6); RFC 5798 requires 255.
	TTL int
	// Received is when the kernel received the packet (zero: unknown).
	// Timers an advert resets run from then, not from when the engine
	// got to it.
	Received time.Time
}

// Conn sends and receives raw VRRP payloads (the bytes after the IP
// header) on one interface for one address family. One Conn serves every
// instance on that interface and family; the engine demultiplexes by VRID.
type Conn interface {
	// WriteTo sends payload to dst (the VRRP multicast group or a unicast
	// peer) with TTL/hop limit 255 and IP protocol 112.
	WriteTo(payload []byte, dst netip.Addr) error
	// ReadFrom blocks until a packet arrives or the Conn is closed.
	ReadFrom(buf []byte) (int, RecvMeta, error)
	// LocalAddr is the primary address adverts are sent from (the
	// interface's first IPv4 address, or its IPv6 link-local address):
	// needed for the v3 pseudo-header checksum and for tie-breaking.
	LocalAddr() netip.Addr
	Close() error
}

// PendingConn is a Conn that can tell whether a packet waits unread in
// its receive queue. A backup whose Master_Down_Timer fires while an
// advert waits reads it first: the master sent it in time, and only the
// reader, not yet scheduled (a loaded machine), is late. Without this a
// starved backup took over and handed back within the same millisecond.
type PendingConn interface {
	Conn
	Pending() bool
}

// ConnFactory opens a Conn. src, when valid, is the address to send from
// (unicast mode); otherwise the interface's primary address is used.
type ConnFactory interface {
	Open(ifname string, family model.Family, src netip.Addr) (Conn, error)
}

// Addresses adds and removes VIPs on interfaces. Add and Delete are
// idempotent: adding a present address or deleting an absent one is not
// an error. IPv6 VIPs are added without duplicate address detection.
type Addresses interface {
	List(device string) ([]netip.Prefix, error)
	Add(vip model.VIPSpec) error
	// AddNew adds the VIP unless its address is on the device already,
	// in one kernel call, and reports whether it added it: a new master
	// learns which VIPs are its own without listing the device first.
	AddNew(vip model.VIPSpec) (added bool, err error)
	Delete(vip model.VIPSpec) error
}

// Announcer tells the segment where the VIPs now live: a gratuitous ARP
// request (sender = target = VIP) for IPv4, an unsolicited neighbour
// advertisement to ff02::1 with the Override flag for IPv6.
type Announcer interface {
	Announce(device string, addrs []netip.Addr) error
}

// Links reports interface state for tracked interfaces.
type Links interface {
	// Up reports whether the link is administratively and operationally up.
	Up(name string) (bool, error)
	// Watch calls f with the link name whenever any link's state changes,
	// until ctx ends.
	Watch(ctx context.Context, f func(name string)) error
}

// Runner runs notify hooks and tracked checks.
type Runner interface {
	// Run executes cmd (with extra args appended) as user ("" = our own
	// user) and returns its exit code; a timeout or start failure is an error.
	Run(ctx context.Context, cmd model.Command, user string, args ...string) (int, error)
}

// VIPRecord persists which VIPs the engine added, so a restarted process
// can tell the VIPs it left behind (after a crash while master) from
// addresses an administrator put there. Load of a record never saved
// returns nothing; Save replaces the whole record and must be durable
// when it returns (the engine saves before it adds an address).
type VIPRecord interface {
	Load() ([]model.VIPSpec, error)
	Save([]model.VIPSpec) error
}
