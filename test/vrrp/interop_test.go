package vrrp

import (
	"bytes"
	"fmt"
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
}

var interopCases = []interopCase{
	{desc: "v3-100ms", version: 3, adv: fast, kaAdv: "0.1"},
	{desc: "v2-pass-1s", version: 2, adv: time.Second, kaAdv: "1", pass: "hkvpass"},
}

// hakeeperGroup is the description of VRID 51 for the case, with n1 at
// priority 200 and n2 at 100 (keepalived runs one of them).
func (c interopCase) description(t *testing.T, lab *netns.Lab, prio1, prio2 int) string {
	body := fmt.Sprintf(`vipGroups:
  web:
    vrid: 51
    vips: [10.99.0.100/24]
    priorities: {n1: %d, n2: %d}
    version: %d
    advertInterval: %v
    garp: {refreshDelay: 0s}
`, prio1, prio2, c.version, c.adv)
	if c.pass != "" {
		body += "    auth: {type: pass, secretEnv: HKV_VRRP_PASS}\n"
	}
	return Description(t, lab, body)
}

func (c interopCase) keepalived(n *netns.Node, prio int) string {
	return KeepalivedConf(n, KeepalivedInstance{Name: "web", VRID: 51, Priority: prio,
		Advert: c.kaAdv, Version: c.version, VIPs: []string{"10.99.0.100/24"}, Pass: c.pass})
}

func (c interopCase) env() []string { return []string{"HKV_VRRP_PASS=" + c.pass} }

// TestKeepalivedMasterHakeeperBackup: hakeeper stays backup under a live
// higher-priority keepalived, takes over when keepalived's VRRP child is
// SIGKILLed, hands back when keepalived returns (preemption), and takes
// over from a gracefully stopped keepalived in about skew time. The
// decoder accepts keepalived's adverts and the encoder reproduces their
// bytes.
func TestKeepalivedMasterHakeeperBackup(t *testing.T) {
	for _, c := range interopCases {
		t.Run(c.desc, func(t *testing.T) {
			lab := netns.New(t, 2)
			netns.SkipNoKeepalived(t)
			capture := lab.Capture(t)
			n1, n2 := lab.Node(1), lab.Node(2)
			ka := n1.StartKeepalived(t, c.keepalived(n1, 200))
			mustHolder(t, lab, vip4, n1, failoverBound(c.adv)+2*time.Second)
			h := StartHakeeper(t, n2, c.description(t, lab, 200, 100), c.env()...)
			if err := h.WaitOutput("running", 5*time.Second); err != nil {
				t.Fatal(err)
			}
			dual := lab.WatchDual(vip4, 10*time.Millisecond)
			stays(t, lab, vip4, n1, 3*c.adv+time.Second)

			// keepalived's adverts decode and re-encode to the same bytes.
			ads := advertsFrom(capture, time.Time{}, n1)
			if len(ads) == 0 {
				t.Fatal("no keepalived adverts captured")
			}
			f := ads[len(ads)-1]
			a := decodeFrame(t, f)
			if a.Version != c.version || a.VRID != 51 || a.Priority != 200 || a.Interval != c.adv || len(a.Addrs) != 1 || a.Addrs[0] != vip4 {
				t.Errorf("decoded keepalived advert %+v", a)
			}
			if c.pass != "" && (a.AuthType != packet.AuthPass || a.AuthData != packet.PassAuth(c.pass)) {
				t.Errorf("keepalived auth %d %q, want PASS %q", a.AuthType, a.AuthData, c.pass)
			}
			again, err := packet.Encode(a, f.IPSrc, f.IPDst)
			if err != nil || !bytes.Equal(again, f.Payload) {
				t.Errorf("re-encoded advert differs from keepalived's:\n ours %x\n them %x (%v)", again, f.Payload, err)
			}
			if f.TOS != 0xc0 || f.TTL != 255 {
				t.Errorf("keepalived advert TOS %#x TTL %d", f.TOS, f.TTL)
			}

			// Crash of keepalived's VRRP child: hakeeper takes over.
			if err := ka.Crash(); err != nil {
				t.Fatal(err)
			}
			ka.Wait(5 * time.Second)
			// The dead node's VIP stays behind (lab notes): remove it as a reboot would.
			n1.MustExec(t, "ip", "addr", "del", "10.99.0.100/24", "dev", n1.Iface)
			d := mustHolder(t, lab, vip4, n2, failoverBound(c.adv))
			t.Logf("takeover after keepalived crash: %v", d)
			garp, err := capture.Wait(time.Now().Add(-d), func(f *netns.Frame) bool { return f.GARPFor(vip4) && bytes.Equal(f.Src, n2.MAC) }, time.Second)
			if err != nil {
				t.Errorf("no gratuitous ARP from hakeeper: %v", err)
			}
			// Our gratuitous ARP has the layout of keepalived's (sender MAC aside).
			kaGarp := capture.Since(time.Time{}, func(f *netns.Frame) bool { return f.GARPFor(vip4) && bytes.Equal(f.Src, n1.MAC) })
			if len(kaGarp) == 0 {
				t.Error("no gratuitous ARP from keepalived captured")
			} else if err == nil {
				ours, theirs := bytes.Clone(garp.Payload[:28]), bytes.Clone(kaGarp[0].Payload[:28])
				copy(ours[8:14], theirs[8:14])
				if !bytes.Equal(ours, theirs) || !bytes.Equal(garp.Dst, kaGarp[0].Dst) {
					t.Errorf("gratuitous ARP layout differs from keepalived's:\n ours %x to %s\n them %x to %s", garp.Payload[:28], garp.Dst, kaGarp[0].Payload[:28], kaGarp[0].Dst)
				}
			}

			// keepalived returns and preempts.
			ka = n1.StartKeepalived(t, c.keepalived(n1, 200))
			d = mustHolder(t, lab, vip4, n1, failoverBound(c.adv)+2*time.Second)
			t.Logf("keepalived preempted back after %v", d)
			stays(t, lab, vip4, n1, c.adv+200*time.Millisecond)

			// Graceful stop of keepalived: takeover in about skew time.
			if err := ka.Stop(); err != nil {
				t.Fatal(err)
			}
			d = mustHolder(t, lab, vip4, n2, failoverBound(c.adv))
			t.Logf("takeover after keepalived stop: %v", d)
			if d > c.adv+time.Second {
				t.Errorf("takeover after a priority-0 advert took %v, want about skew time", d)
			}
			if longest, err := dual.Stop(); err != nil || longest > c.adv+50*time.Millisecond {
				t.Errorf("VIP on both nodes for %v (err %v), want at most one advert interval", longest, err)
			}
		})
	}
}

// TestHakeeperMasterKeepalivedBackup: the reverse roles. keepalived stays
// backup under hakeeper, takes over on hakeeper's crash and on its
// graceful stop, and hakeeper's adverts are accepted by keepalived (it
// would otherwise claim the VIP).
func TestHakeeperMasterKeepalivedBackup(t *testing.T) {
	for _, c := range interopCases {
		t.Run(c.desc, func(t *testing.T) {
			lab := netns.New(t, 2)
			netns.SkipNoKeepalived(t)
			capture := lab.Capture(t)
			n1, n2 := lab.Node(1), lab.Node(2)
			src := c.description(t, lab, 200, 100)
			h := StartHakeeper(t, n1, src, c.env()...)
			mustHolder(t, lab, vip4, n1, failoverBound(c.adv)+2*time.Second)
			ka := n2.StartKeepalived(t, c.keepalived(n2, 100))
			dual := lab.WatchDual(vip4, 10*time.Millisecond)
			stays(t, lab, vip4, n1, 3*c.adv+time.Second)
			if got := advertsFrom(capture, time.Now().Add(-c.adv), n2); len(got) != 0 {
				t.Errorf("keepalived advertised while hakeeper is master: %d adverts", len(got))
			}

			// hakeeper crashes: keepalived takes over.
			crashNode(t, h.Process, vip4)
			d := mustHolder(t, lab, vip4, n2, failoverBound(c.adv))
			t.Logf("keepalived took over after hakeeper crash: %v", d)

			// hakeeper returns and preempts keepalived.
			reviveNode(t, n1)
			h = StartHakeeper(t, n1, src, c.env()...)
			d = mustHolder(t, lab, vip4, n1, failoverBound(c.adv)+2*time.Second)
			t.Logf("hakeeper preempted back after %v", d)

			// Graceful stop: keepalived takes over in about skew time.
			stopped := time.Now()
			h.Stop(t)
			d = mustHolder(t, lab, vip4, n2, failoverBound(c.adv))
			t.Logf("keepalived took over %v after hakeeper's SIGTERM (%v incl. exit)", d, time.Since(stopped))
			if longest, err := dual.Stop(); err != nil || longest > c.adv+50*time.Millisecond {
				t.Errorf("VIP on both nodes for %v (err %v), want at most one advert interval", longest, err)
			}
			_ = ka
		})
	}
}
