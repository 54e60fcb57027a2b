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

// RFC 5798 timers as the wire shows them, checked against the capture's
// kernel timestamps (the bridge sees every advert within microseconds of
// the backups), so the bounds hold on a loaded machine where polling the
// kernel for the VIP would not.

// skewTime is Skew_Time of a backup with priority prio: v3 scales with
// the advert interval, v2 uses whole seconds (RFC 3768 6.1).
func skewTime(version, prio int, adv time.Duration) time.Duration {
	if version == 2 {
		return time.Duration(256-prio) * time.Second / 256
	}
	return time.Duration(256-prio) * adv / 256
}

// masterDownInterval is 3 × Advertisement_Interval + Skew_Time.
func masterDownInterval(version, prio int, adv time.Duration) time.Duration {
	return 3*adv + skewTime(version, prio, adv)
}

// crashSlack is how late past Master_Down_Interval a takeover may come on
// a loaded 2-core machine before it counts as broken.
func crashSlack(adv time.Duration) time.Duration { return adv + 500*time.Millisecond }

// advertPriority decodes the priority of a captured advert (-1 if it
// does not decode).
func advertPriority(f *netns.Frame) int {
	a, err := packet.Decode(f.Payload, f.IPSrc, f.IPDst)
	if err != nil {
		return -1
	}
	return int(a.Priority)
}

// firstAdvert waits for n's first advert with a non-zero priority at or
// after since.
func firstAdvert(c *netns.Capture, since time.Time, n *netns.Node, timeout time.Duration) (netns.Frame, error) {
	f, err := c.Wait(since, func(f *netns.Frame) bool {
		return f.IsVRRP() && bytes.Equal(f.Src, n.MAC) && advertPriority(f) > 0
	}, timeout)
	if err != nil {
		return f, fmt.Errorf("no advert from %s since %v: %w", n.Name, since.Format("15:04:05.000"), err)
	}
	return f, nil
}

// lastAdvertBefore is n's last advert with a non-zero priority before t.
func lastAdvertBefore(c *netns.Capture, t time.Time, n *netns.Node) (netns.Frame, bool) {
	var last netns.Frame
	ok := false
	for _, f := range c.Frames() {
		if f.Time.Before(t) && f.IsVRRP() && bytes.Equal(f.Src, n.MAC) && advertPriority(&f) > 0 {
			last, ok = f, true
		}
	}
	return last, ok
}

// takeover is one failover as the wire saw it.
type takeover struct {
	// From is the old master's last live advert (crash) or its
	// priority-0 advert (graceful); To the new master's first advert.
	From, To netns.Frame
}

func (tk takeover) gap() time.Duration { return tk.To.Time.Sub(tk.From.Time) }

// checkGraceful asserts RFC 5798 6.4.2 after a resignation: the backup
// (priority prio) takes over Skew_Time after the priority-0 advert —
// never sooner, and well before Master_Down_Interval (< 3 adverts).
func checkGraceful(t *testing.T, c *netns.Capture, since time.Time, old, nu *netns.Node, version, prio int, adv time.Duration) takeover {
	t.Helper()
	zero, err := c.Wait(since, func(f *netns.Frame) bool {
		return f.IsVRRP() && bytes.Equal(f.Src, old.MAC) && advertPriority(f) == 0
	}, 3*time.Second)
	if err != nil {
		t.Fatalf("no priority-0 advert from %s: %v", old.Name, err)
	}
	first, err := firstAdvert(c, zero.Time, nu, failoverBound(adv))
	if err != nil {
		t.Fatal(err)
	}
	tk := takeover{From: zero, To: first}
	skew := skewTime(version, prio, adv)
	t.Logf("graceful: %s's first advert %v after the priority-0 advert (Skew_Time %v)", nu.Name, tk.gap(), skew)
	if tk.gap() < skew-2*time.Millisecond || tk.gap() >= 3*adv {
		t.Errorf("takeover %v after the priority-0 advert, want within [Skew_Time %v, 3 adverts %v)", tk.gap(), skew, 3*adv)
	}
	return tk
}

// checkCrash asserts that the backup (priority prio) took over no
// sooner than Master_Down_Interval − one advert after the dead master's
// last advert (no premature takeover) and not much later than
// Master_Down_Interval.
func checkCrash(t *testing.T, c *netns.Capture, since time.Time, old, nu *netns.Node, version, prio int, adv time.Duration) takeover {
	t.Helper()
	first, err := firstAdvert(c, since, nu, failoverBound(adv))
	if err != nil {
		t.Fatal(err)
	}
	last, ok := lastAdvertBefore(c, first.Time, old)
	if !ok {
		t.Fatalf("no advert from the crashed master %s captured", old.Name)
	}
	tk := takeover{From: last, To: first}
	mdi := masterDownInterval(version, prio, adv)
	t.Logf("crash: %s's first advert %v after %s's last (Master_Down_Interval %v)", nu.Name, tk.gap(), old.Name, mdi)
	if tk.gap() < mdi-adv || tk.gap() > mdi+crashSlack(adv) {
		t.Errorf("takeover %v after the last advert, want within [%v, %v] (Master_Down_Interval %v)",
			tk.gap(), mdi-adv, mdi+crashSlack(adv), mdi)
	}
	return tk
}

// checkDual stops a dual-holder watch and asserts that no two live nodes
// held the VIP for longer than one advert interval, as the kernel's
// address notifications tell (plus the stamps' documented tolerance,
// netns.DualStampTolerance). Crashed nodes are left out by the watch.
func checkDual(t *testing.T, w *netns.DualWatch, adv time.Duration) {
	t.Helper()
	longest, err := w.Stop()
	if err != nil {
		t.Errorf("dual-holder watch: %v", err)
	}
	if longest > adv+netns.DualStampTolerance {
		t.Errorf("VIP held by two live nodes for %v, want at most one advert interval (%v): %s", longest, adv, w.Describe())
	}
}

// vipOf is the address of a VIP written as a prefix.
func vipOf(prefix string) netip.Addr { return netip.MustParsePrefix(prefix).Addr() }
