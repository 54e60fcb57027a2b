package vrrp

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/test/netns"
	"github.com/hakeeper/hakeeper/vrrpd/packet"
)

// interopCase is one protocol flavour both daemons are run with.
type interopCase struct {
	desc    string
	version int
	adv     time.Duration
	kaAdv   string // keepalived's advert_int
	pass    string
	ipv6    bool
	// unicast: keepalived gets unicast_src_ip/unicast_peer, hakeeper
	// unicast: true; adverts go node to node, never to the group.
	unicast bool
}

var interopCases = []interopCase{
	{desc: "v3-100ms", version: 3, adv: fast, kaAdv: "0.1"},
	{desc: "v2-pass-1s", version: 2, adv: time.Second, kaAdv: "1", pass: "hkvpass"},
	{desc: "v3-ipv6-100ms", version: 3, adv: fast, kaAdv: "0.1", ipv6: true},
	{desc: "v3-unicast-100ms", version: 3, adv: fast, kaAdv: "0.1", unicast: true},
	{desc: "v3-ipv6-unicast-100ms", version: 3, adv: fast, kaAdv: "0.1", ipv6: true, unicast: true},
}

func (c interopCase) vipPrefix() string {
	if c.ipv6 {
		return "2001:db8:99::100/64"
	}
	return "10.99.0.100/24"
}

func (c interopCase) vip() netip.Addr { return vipOf(c.vipPrefix()) }

// announces matches n's announcement of the VIP: a gratuitous ARP, or an
// unsolicited neighbour advertisement for IPv6.
func (c interopCase) announces(n *netns.Node) func(*netns.Frame) bool {
	vip := c.vip()
	return func(f *netns.Frame) bool {
		if !bytes.Equal(f.Src, n.MAC) {
			return false
		}
		if c.ipv6 {
			return f.NAFor(vip)
		}
		return f.GARPFor(vip)
	}
}

// nodeAddr is the address n speaks VRRP from in unicast mode.
func (c interopCase) nodeAddr(n *netns.Node) netip.Addr {
	if c.ipv6 {
		return n.Addr6.Addr()
	}
	return n.Addr.Addr()
}

// advertDst is where n's adverts must go when peer is the other node.
func (c interopCase) advertDst(peer *netns.Node) netip.Addr {
	switch {
	case c.unicast:
		return c.nodeAddr(peer)
	case c.ipv6:
		return packet.Group6
	}
	return packet.Group4
}

// advertSrc is the source address of n's adverts.
func (c interopCase) advertSrc(n *netns.Node) netip.Addr {
	switch {
	case c.unicast:
		return c.nodeAddr(n)
	case c.ipv6:
		return n.LinkLocal
	}
	return n.Addr.Addr()
}

// description is VRID 51 for the case, with n1 at priority prio1 and n2
// at prio2 (keepalived runs one of them).
func (c interopCase) description(t *testing.T, lab *netns.Lab, prio1, prio2 int) string {
	body := fmt.Sprintf(`vipGroups:
  web:
    vrid: 51
    vips: [%s]
    priorities: {n1: %d, n2: %d}
    version: %d
    advertInterval: %v
    garp: {refreshDelay: 0s}
`, c.vipPrefix(), prio1, prio2, c.version, c.adv)
	if c.pass != "" {
		body += "    auth: {type: pass, secretEnv: HKV_VRRP_PASS}\n"
	}
	if c.unicast {
		body += "    unicast: true\n"
	}
	return Description(t, lab, body)
}

func (c interopCase) keepalived(n, peer *netns.Node, prio int) string {
	in := KeepalivedInstance{Name: "web", VRID: 51, Priority: prio,
		Advert: c.kaAdv, Version: c.version, VIPs: []string{c.vipPrefix()}, Pass: c.pass}
	if c.unicast {
		in.UnicastSrc = c.nodeAddr(n).String()
		in.Unicast = []string{c.nodeAddr(peer).String()}
	}
	return KeepalivedConf(n, in)
}

func (c interopCase) env() []string { return []string{"HKV_VRRP_PASS=" + c.pass} }

// keepalivedTTL is the TTL / hop limit of keepalived's adverts: 255,
// except IPv6 unicast, which keepalived 2.2.7 sends with the default
// hop limit 64 (it checks the TTL only for multicast itself, and so
// does hakeeper since this interop test found the difference).
func (c interopCase) keepalivedTTL() uint8 {
	if c.ipv6 && c.unicast {
		return 64
	}
	return 255
}

// checkAdvertsOnWire asserts that every advert n sent since `since` went
// from the expected source to the expected destination with TTL ttl.
func (c interopCase) checkAdvertsOnWire(t *testing.T, capture *netns.Capture, since time.Time, n, peer *netns.Node, ttl uint8) {
	t.Helper()
	ads := advertsFrom(capture, since, n)
	if len(ads) == 0 {
		t.Errorf("no adverts from %s captured", n.Name)
		return
	}
	for _, f := range ads {
		if f.IPSrc != c.advertSrc(n) || f.IPDst != c.advertDst(peer) || f.TTL != ttl {
			t.Errorf("%s advert %s -> %s hop limit %d, want %s -> %s, %d", n.Name, f.IPSrc, f.IPDst, f.TTL, c.advertSrc(n), c.advertDst(peer), ttl)
			return
		}
	}
}

// TestKeepalivedMasterHakeeperBackup: hakeeper stays backup under a live
// higher-priority keepalived, takes over when keepalived's VRRP child is
// SIGKILLed (no sooner than Master_Down_Interval − one advert after
// keepalived's last advert), hands back when keepalived returns
// (preemption), and takes over from a gracefully stopped keepalived after
// Skew_Time. The decoder accepts keepalived's adverts and the encoder
// reproduces their bytes; hakeeper's announcement has the layout of
// keepalived's. IPv4 and IPv6, multicast and unicast.
func TestKeepalivedMasterHakeeperBackup(t *testing.T) {
	for _, c := range interopCases {
		t.Run(c.desc, func(t *testing.T) {
			lab := netns.New(t, 2)
			netns.SkipNoKeepalived(t)
			capture := lab.Capture(t)
			n1, n2 := lab.Node(1), lab.Node(2)
			vip := c.vip()
			ka := n1.StartKeepalived(t, c.keepalived(n1, n2, 200))
			mustHolder(t, lab, vip, n1, failoverBound(c.adv)+2*time.Second)
			h := StartHakeeper(t, n2, c.description(t, lab, 200, 100), c.env()...)
			if err := h.WaitOutput("running", 5*time.Second); err != nil {
				t.Fatal(err)
			}
			dual := lab.WatchHolders(vip)
			watched := time.Now()
			stays(t, lab, vip, n1, 3*c.adv+time.Second)
			c.checkAdvertsOnWire(t, capture, watched, n1, n2, c.keepalivedTTL())
			if got := advertsFrom(capture, watched, n2); len(got) != 0 {
				t.Errorf("hakeeper advertised %d times as backup", len(got))
			}

			// keepalived's adverts decode and re-encode to the same bytes.
			ads := advertsFrom(capture, time.Time{}, n1)
			if len(ads) == 0 {
				t.Fatal("no keepalived adverts captured")
			}
			f := ads[len(ads)-1]
			a := decodeFrame(t, f)
			if a.Version != c.version || a.VRID != 51 || a.Priority != 200 || a.Interval != c.adv || len(a.Addrs) != 1 || a.Addrs[0] != vip {
				t.Errorf("decoded keepalived advert %+v", a)
			}
			if c.pass != "" && (a.AuthType != packet.AuthPass || a.AuthData != packet.PassAuth(c.pass)) {
				t.Errorf("keepalived auth %d %q, want PASS %q", a.AuthType, a.AuthData, c.pass)
			}
			again, err := packet.Encode(a, f.IPSrc, f.IPDst)
			if err != nil || !bytes.Equal(again, f.Payload) {
				t.Errorf("re-encoded advert differs from keepalived's:\n ours %x\n them %x (%v)", again, f.Payload, err)
			}
			if f.TTL != c.keepalivedTTL() || !c.ipv6 && f.TOS != 0xc0 {
				t.Errorf("keepalived advert TOS %#x TTL %d", f.TOS, f.TTL)
			}

			// Crash of keepalived's VRRP child: hakeeper takes over.
			crashed := time.Now()
			dual.Crashed(n1)
			if err := ka.Crash(); err != nil {
				t.Fatal(err)
			}
			ka.Wait(5 * time.Second)
			// The dead node's VIP stays behind (lab notes): remove it as a reboot would.
			n1.MustExec(t, "ip", "addr", "del", c.vipPrefix(), "dev", n1.Iface)
			d := mustHolder(t, lab, vip, n2, failoverBound(c.adv))
			t.Logf("VIP on hakeeper %v after keepalived's crash", d)
			checkCrash(t, capture, crashed, n1, n2, c.version, 100, c.adv)
			c.checkAdvertsOnWire(t, capture, crashed, n2, n1, 255)
			ann, err := capture.Wait(crashed, c.announces(n2), time.Second)
			if err != nil {
				t.Errorf("no gratuitous ARP / unsolicited NA from hakeeper: %v", err)
			}
			// Our announcement has the layout of keepalived's.
			kaAnn := capture.Since(time.Time{}, c.announces(n1))
			if len(kaAnn) == 0 {
				t.Error("no announcement from keepalived captured")
			} else if err == nil {
				compareAnnouncements(t, c.ipv6, ann, kaAnn[0], n1, n2)
			}

			// keepalived returns and preempts.
			dual.Revived(n1)
			ka = n1.StartKeepalived(t, c.keepalived(n1, n2, 200))
			d = mustHolder(t, lab, vip, n1, failoverBound(c.adv)+2*time.Second)
			t.Logf("keepalived preempted back after %v", d)
			stays(t, lab, vip, n1, c.adv+200*time.Millisecond)

			// Graceful stop of keepalived: takeover after Skew_Time.
			stopped := time.Now()
			if err := ka.Stop(); err != nil {
				t.Fatal(err)
			}
			mustHolder(t, lab, vip, n2, failoverBound(c.adv))
			checkGraceful(t, capture, stopped, n1, n2, c.version, 100, c.adv)
			checkDual(t, dual, c.adv)
		})
	}
}

// compareAnnouncements asserts that ours (sent by us) carries the same
// fields as keepalived's (sent by them) apart from the sender's MAC.
func compareAnnouncements(t *testing.T, ipv6 bool, ours, theirs netns.Frame, them, us *netns.Node) {
	t.Helper()
	if !bytes.Equal(ours.Dst, theirs.Dst) {
		t.Errorf("announcement to %s, keepalived's to %s", ours.Dst, theirs.Dst)
	}
	if !ipv6 {
		o, k := bytes.Clone(ours.Payload[:28]), bytes.Clone(theirs.Payload[:28])
		copy(o[8:14], k[8:14])
		if !bytes.Equal(o, k) {
			t.Errorf("gratuitous ARP layout differs from keepalived's:\n ours %x\n them %x", ours.Payload[:28], theirs.Payload[:28])
		}
		return
	}
	// NA: type, code, flags (R/S/O) and target equal; the target
	// link-layer option carries each sender's own MAC; hop limit 255.
	if len(ours.Payload) < 32 || len(theirs.Payload) < 32 {
		t.Fatalf("short NA: ours %x, keepalived's %x", ours.Payload, theirs.Payload)
	}
	if ours.Payload[0] != theirs.Payload[0] || ours.Payload[1] != theirs.Payload[1] ||
		ours.Payload[4] != theirs.Payload[4] || !bytes.Equal(ours.Payload[8:24], theirs.Payload[8:24]) {
		t.Errorf("NA differs from keepalived's:\n ours %x\n them %x", ours.Payload, theirs.Payload)
	}
	if ours.Payload[4]&0x20 == 0 {
		t.Errorf("our NA lacks the Override flag: %x", ours.Payload)
	}
	if ours.IPDst != theirs.IPDst || ours.TTL != 255 || theirs.TTL != 255 {
		t.Errorf("NA to %s hop %d, keepalived's to %s hop %d", ours.IPDst, ours.TTL, theirs.IPDst, theirs.TTL)
	}
	if ours.Payload[24] != 2 || !bytes.Equal(ours.Payload[26:32], us.MAC) {
		t.Errorf("our NA's option is not the target link-layer address %s: %x", us.MAC, ours.Payload[24:])
	}
	_ = them
}

// TestHakeeperMasterKeepalivedBackup: the reverse roles. keepalived stays
// backup under hakeeper, takes over on hakeeper's crash and on its
// graceful stop (timed from the wire as for hakeeper), and hakeeper's
// adverts are accepted by keepalived (it would otherwise claim the VIP).
func TestHakeeperMasterKeepalivedBackup(t *testing.T) {
	for _, c := range interopCases {
		t.Run(c.desc, func(t *testing.T) {
			lab := netns.New(t, 2)
			netns.SkipNoKeepalived(t)
			capture := lab.Capture(t)
			n1, n2 := lab.Node(1), lab.Node(2)
			vip := c.vip()
			src := c.description(t, lab, 200, 100)
			h := StartHakeeper(t, n1, src, c.env()...)
			mustHolder(t, lab, vip, n1, failoverBound(c.adv)+2*time.Second)
			if _, err := capture.Wait(time.Time{}, c.announces(n1), time.Second); err != nil {
				t.Errorf("no gratuitous ARP / unsolicited NA from hakeeper: %v", err)
			}
			n2.StartKeepalived(t, c.keepalived(n2, n1, 100))
			dual := lab.WatchHolders(vip)
			watched := time.Now()
			stays(t, lab, vip, n1, 3*c.adv+time.Second)
			c.checkAdvertsOnWire(t, capture, watched, n1, n2, 255)
			if got := advertsFrom(capture, watched, n2); len(got) != 0 {
				t.Errorf("keepalived advertised while hakeeper is master: %d adverts", len(got))
			}

			// hakeeper crashes: keepalived takes over.
			crashed := time.Now()
			crashNode(t, dual, h.Process, vip)
			d := mustHolder(t, lab, vip, n2, failoverBound(c.adv))
			t.Logf("keepalived took over after hakeeper crash: %v", d)
			checkCrash(t, capture, crashed, n1, n2, c.version, 100, c.adv)

			// hakeeper returns and preempts keepalived.
			reviveNode(t, dual, n1)
			h = StartHakeeper(t, n1, src, c.env()...)
			d = mustHolder(t, lab, vip, n1, failoverBound(c.adv)+2*time.Second)
			t.Logf("hakeeper preempted back after %v", d)

			// Graceful stop: keepalived takes over after Skew_Time.
			stopped := time.Now()
			h.Stop(t)
			mustHolder(t, lab, vip, n2, failoverBound(c.adv))
			checkGraceful(t, capture, stopped, n1, n2, c.version, 100, c.adv)
			checkDual(t, dual, c.adv)
		})
	}
}
