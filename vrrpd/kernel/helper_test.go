package kernel

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/test/netns"
	"github.com/hakeeper/hakeeper/vrrpd"
)

// helperEnv selects what TestHelperProcess does when the test binary is
// re-executed inside a node namespace: raw sockets and netlink
// subscriptions belong to the process's namespace, so the code under test
// runs in a real process there.
const helperEnv = "HKV_KERNEL_HELPER"

// startHelper runs this test binary inside node as a helper doing mode.
func startHelper(t *testing.T, node *netns.Node, mode string, args ...string) *netns.Process {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	argv := append([]string{exe, "-test.run=^TestHelperProcess$", "--"}, args...)
	return node.StartEnv(t, []string{helperEnv + "=" + mode}, argv...)
}

func helperArgs() []string {
	for i, a := range os.Args {
		if a == "--" {
			return os.Args[i+1:]
		}
	}
	return nil
}

// TestHelperProcess is not a test: it is the body of helper processes.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("only runs as a helper process")
	}
	err := runHelperMode(mode, helperArgs())
	if err != nil {
		fmt.Println("ERROR:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runHelperMode(mode string, args []string) error {
	switch mode {
	case "send": // send FAMILY SRC|- DST HEXPAYLOAD COUNT
		fam := model.Family(args[0])
		var src netip.Addr
		if args[1] != "-" {
			src = netip.MustParseAddr(args[1])
		}
		c, err := ConnFactory{}.Open(netns.NodeIface, fam, src)
		if err != nil {
			return err
		}
		defer c.Close()
		fmt.Println("LOCAL", c.LocalAddr())
		payload, err := hex.DecodeString(args[3])
		if err != nil {
			return err
		}
		var count int
		fmt.Sscan(args[4], &count)
		for i := 0; i < count; i++ {
			if err := c.WriteTo(payload, netip.MustParseAddr(args[2])); err != nil {
				return err
			}
			time.Sleep(20 * time.Millisecond)
		}
		fmt.Println("SENT")
		return nil
	case "recv": // recv FAMILY: print each packet as RECV src dst ttl hex
		c, err := ConnFactory{}.Open(netns.NodeIface, model.Family(args[0]), netip.Addr{})
		if err != nil {
			return err
		}
		fmt.Println("READY", c.LocalAddr())
		buf := make([]byte, 1500)
		for {
			n, m, err := c.ReadFrom(buf)
			if err != nil {
				return err
			}
			stamp := "stamped"
			if age := time.Since(m.Received); m.Received.IsZero() || age < 0 || age > time.Second {
				stamp = fmt.Sprintf("bad-stamp(%v)", m.Received)
			}
			fmt.Printf("RECV %s %s %d %x %s\n", m.Src, m.Dst, m.TTL, buf[:n], stamp)
		}
	case "pending": // pending FAMILY: Pending before, while and after packets queue
		c, err := ConnFactory{}.Open(netns.NodeIface, model.Family(args[0]), netip.Addr{})
		if err != nil {
			return err
		}
		pc := c.(vrrpd.PendingConn)
		fmt.Println("READY", c.LocalAddr())
		fmt.Printf("IDLE pending=%v\n", pc.Pending())
		for deadline := time.Now().Add(5 * time.Second); !pc.Pending(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				return errors.New("nothing queued within 5s")
			}
		}
		fmt.Println("QUEUED")
		buf := make([]byte, 1500)
		for reads := 1; ; reads++ {
			if _, _, err := c.ReadFrom(buf); err != nil {
				return err
			}
			time.Sleep(50 * time.Millisecond) // let the sender's other copies arrive
			if !pc.Pending() {
				fmt.Println("DRAINED after", reads, "reads")
				return nil
			}
		}
	case "announce": // announce ADDR...
		a := NewAnnouncer()
		defer a.Close()
		var addrs []netip.Addr
		for _, s := range args {
			addrs = append(addrs, netip.MustParseAddr(s))
		}
		if err := a.Announce(netns.NodeIface, addrs); err != nil {
			return err
		}
		// Twice: the second call reuses the cached sockets.
		if err := a.Announce(netns.NodeIface, addrs); err != nil {
			return err
		}
		fmt.Println("ANNOUNCED")
		return nil
	case "macchange": // macchange VIP4 VIP6 NEWMAC: see TestAnnouncerFollowsMACChange
		return macChangeHelper(args)
	case "links": // print every change of the lab interface's state
		l, err := NewLinks()
		if err != nil {
			return err
		}
		up, err := l.Up(netns.NodeIface)
		if err != nil {
			return err
		}
		fmt.Println("READY up=" + fmt.Sprint(up))
		return l.Watch(context.Background(), func(name string) {
			up, err := l.Up(name)
			fmt.Printf("CHANGE %s up=%v err=%v\n", name, up, err)
		})
	case "realtime": // realtime PRIO OUTFILE: see TestRealtime
		return realtimeHelper(args)
	case "probe": // probe PRIO RTPRIO_LIMIT|- MEMLOCK_LIMIT|-: see TestRealtimeAvailable
		return probeHelper(args)
	}
	return fmt.Errorf("unknown helper mode %q (%s)", mode, strings.Join(args, " "))
}

// macChangeHelper announces an IPv4 and an IPv6 VIP, changes the
// interface's MAC and announces the IPv4 VIP again.
func macChangeHelper(args []string) error {
	vip4, vip6 := netip.MustParseAddr(args[0]), netip.MustParseAddr(args[1])
	newMAC, err := net.ParseMAC(args[2])
	if err != nil {
		return err
	}
	a := NewAnnouncer()
	defer a.Close()
	if err := a.Announce(netns.NodeIface, []netip.Addr{vip4, vip6}); err != nil {
		return err
	}
	link, err := netlink.LinkByName(netns.NodeIface)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetHardwareAddr(link, newMAC); err != nil {
		return err
	}
	return a.Announce(netns.NodeIface, []netip.Addr{vip4})
}
