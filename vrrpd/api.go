package vrrpd

import (
	"log/slog"
	"net/netip"
	"time"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/vrrpd/packet"
)

// Config is what an Engine needs from the outside world. Every field but
// Logger, Secret and VIPs is required.
type Config struct {
	Clock     Clock
	Conns     ConnFactory
	Addrs     Addresses
	Announcer Announcer
	Links     Links
	Runner    Runner
	// Logger receives transitions and drops; nil discards.
	Logger *slog.Logger
	// Secret returns the VRRPv2 PASS password of an instance's Auth. Nil
	// reads the environment variable or the file it names.
	Secret func(*model.Auth) (string, error)
	// VIPs, when set, records the VIPs the engine added (kernel.VIPFile in
	// the state directory). Without it a process that crashed while
	// master cannot recognise the VIPs it left behind and keeps them.
	VIPs VIPRecord
	// OnTransition, when set, is called after every state change, under
	// the engine's lock: it must return at once (signal, not work).
	OnTransition func()
}

// DropReason names why a received packet was discarded.
type DropReason string

// Drop reasons. The first group are decode failures (a packet.Reason
// counts as the DropReason of its name), the second are policy checks on
// well-formed adverts.
const (
	DropTruncated   = DropReason(packet.Truncated)
	DropBadVersion  = DropReason(packet.BadVersion)
	DropBadType     = DropReason(packet.BadType)
	DropBadChecksum = DropReason(packet.BadChecksum)
	DropBadLength   = DropReason(packet.BadLength)
	DropBadFamily   = DropReason(packet.BadFamily)
	DropBadAuth     = DropReason(packet.BadAuth) // also by policy: the v2 auth type or password differs

	DropBadInterval      DropReason = "bad-interval"      // (Max) Advert Interval 0: would collapse Master_Down_Interval
	DropBadTTL           DropReason = "bad-ttl"           // TTL / hop limit is not 255
	DropWrongVersion     DropReason = "wrong-version"     // v2 advert for a v3 instance or the reverse
	DropUnknownVRID      DropReason = "unknown-vrid"      // no instance with this VRID on the Conn
	DropNotPeer          DropReason = "not-peer"          // unicast instance, sender is not a peer
	DropIntervalMismatch DropReason = "interval-mismatch" // v2 advert interval differs from ours (RFC 3768 7.1)
	DropOwnPacket        DropReason = "own-packet"        // our own advert looped back
)

// Counters are an instance's packet and transition counts since it started.
type Counters struct {
	AdvertsSent     uint64
	AdvertsReceived uint64 // accepted adverts (drops are not counted here)
	Drops           map[DropReason]uint64
	Transitions     uint64
	// VIPMismatches counts accepted adverts whose VIP list differs from ours.
	VIPMismatches uint64
	// AdvertErrors counts adverts that could not be encoded (the group
	// is faulted for it: see InstanceStatus.AdvertError).
	AdvertErrors uint64
}

// InstanceStatus is a snapshot of one running instance.
type InstanceStatus struct {
	Name string
	Key  model.InstanceKey
	// State is init, backup, master or fault.
	State model.VRRPState
	// Priority is the effective priority (base plus tracking weights) now
	// advertised; BasePriority is the configured one.
	Priority     uint8
	BasePriority uint8
	// MasterAddr is the current master's address (ours when master; zero
	// when unknown).
	MasterAddr netip.Addr
	// LastTransition is when State was entered, and Reason why.
	LastTransition time.Time
	Reason         string
	Counters       Counters
	// AdvertError is set while the instance's advert cannot be encoded
	// (e.g. more VIPs than one advert carries): the instance is faulted,
	// so a peer that can advertise is the only master.
	AdvertError string
	// SplitBrain is set while adverts for this VRID from a foreign
	// configuration (another password, version or v2 interval, or a
	// unicast sender that is no peer) are being rejected: their sender
	// claims mastership we do not see, so both sides may be master. It
	// says how many, why and from whom; it clears once none has been
	// rejected for SplitBrainHold.
	SplitBrain string
	// Tracks are the instance's tracked interfaces, then its tracked
	// checks, in configuration order: why Priority differs from
	// BasePriority, or why the instance is faulted. The instance's own
	// interface, tracked implicitly, is not listed (Reason names it).
	Tracks []TrackStatus
}

// TrackKind says what a TrackStatus tracks.
type TrackKind string

// Track kinds.
const (
	TrackInterface TrackKind = "interface"
	TrackCheck     TrackKind = "check"
)

// TrackStatus is one tracked interface or check of an instance and what
// it does to the instance now.
type TrackStatus struct {
	Kind TrackKind
	// Name is the interface's or the check's name.
	Name string
	// Up is true while the link is up or the check's verdict is passing
	// (a check passes until Fall consecutive failures, as keepalived's do).
	Up bool
	// Weight is the weight in force for this instance.
	Weight int
	// Contribution is what the track adds to the priority now (before the
	// clamp to 1..254): Weight when a positive weight is up or a negative
	// one down, else 0. Always 0 for an address owner, whose priority is
	// never adjusted.
	Contribution int
	// Fault is set while a weight-0 track is down: it faults the instance.
	Fault bool
	// Since is when Up last changed (or when tracking began).
	Since time.Time
	// LastRun, LastExit and LastError are the check's last run (checks
	// only; LastRun is zero before the first run, LastError is set when
	// the command could not run or timed out).
	LastRun   time.Time
	LastExit  int
	LastError string
}

// CheckStatus is one tracked check as the engine runs it, once however
// many instances track it.
type CheckStatus struct {
	Name string
	// Passing is the verdict instances see; Since is when it last changed
	// (or when the check started).
	Passing bool
	Since   time.Time
	// Rise and Fall are the consecutive results needed to change the verdict.
	Rise, Fall int
	// ConsecutiveOK and ConsecutiveFail count the latest run of equal
	// results (one of them is 0); a failure here is an exit status other
	// than 0 or a run error.
	ConsecutiveOK, ConsecutiveFail int
	// Runs counts results since the check started.
	Runs CheckRuns
	// LastRun, LastExit and LastError are the last result (LastError when
	// the command could not run or timed out).
	LastRun   time.Time
	LastExit  int
	LastError string
	// Groups are the VIP groups tracking the check, sorted.
	Groups []string
}

// CheckRuns counts a check's results: exit 0, another exit status, and
// runs that failed to start or timed out.
type CheckRuns struct {
	Passed, Failed, Errors uint64
}

// UnattributedDrops are packets that could not be tied to an instance
// (unknown VRID, or too malformed to read one), per Conn key
// "interface/family".
type UnattributedDrops map[string]map[DropReason]uint64
