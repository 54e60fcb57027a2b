package netns

import (
	"bytes"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestLabTopology(t *testing.T) {
	l := New(t, 2)
	if _, err := exec.LookPath("busybox"); err != nil {
		t.Skip("needs busybox (busybox-static) for ping")
	}
	cap := l.Capture(t)
	n1, n2 := l.Node(1), l.Node(2)

	// Each node has its fixed addresses, including the derived link-local.
	for _, nd := range l.Nodes {
		for _, a := range []netip.Addr{nd.Addr.Addr(), nd.Addr6.Addr(), nd.LinkLocal} {
			if has, err := nd.HasAddr(nd.Iface, a); err != nil || !has {
				t.Errorf("%s: %s present = %v, %v", nd.Name, a, has, err)
			}
		}
	}
	// The segment works both ways and the capture sees the ARP exchange.
	start := time.Now()
	n1.MustExec(t, "busybox", "ping", "-c1", "-W2", n2.Addr.Addr().String())
	f, err := cap.Wait(start, func(f *Frame) bool { return f.IsARP() && bytes.Equal(f.Src, n1.MAC) }, 2*time.Second)
	if err != nil {
		t.Fatalf("ARP request from %s not captured: %v", n1.MAC, err)
	}
	if f.Time.Before(start.Add(-time.Second)) || f.Time.After(time.Now()) {
		t.Errorf("capture timestamp %v outside the test window", f.Time)
	}
	n2.MustExec(t, "busybox", "ping", "-6", "-c1", "-W2", n1.Addr6.Addr().String())

	// Addresses added in a node are seen through the namespace handle.
	vip := netip.MustParseAddr("10.99.0.200")
	n1.MustExec(t, "ip", "addr", "add", vip.String()+"/32", "dev", n1.Iface)
	if _, err := l.WaitHolder(vip, n1, time.Second); err != nil {
		t.Fatal(err)
	}
	n1.MustExec(t, "ip", "addr", "del", vip.String()+"/32", "dev", n1.Iface)
	if _, err := n1.WaitAddr(n1.Iface, vip, false, time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestLabProcessAndCleanup(t *testing.T) {
	var names []string
	t.Run("inner", func(t *testing.T) {
		l := New(t, 1)
		names = append(names, l.BridgeNS, l.Node(1).Name)
		p := l.Node(1).Start(t, "sh", "-c", "ip -o link show eth0; sleep 30")
		if err := p.WaitOutput("eth0", 2*time.Second); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(p.Output(), l.Node(1).MAC.String()) {
			t.Errorf("process does not run in the node namespace: %q", p.Output())
		}
		if err := p.Kill(); err != nil {
			t.Fatal(err)
		}
		if code, err := p.Wait(2 * time.Second); err != nil || code != -1 {
			t.Errorf("killed process: code %d, %v", code, err)
		}
	})
	out, err := execOut("ip", "netns", "list")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if strings.Contains(out, n) {
			t.Errorf("namespace %s left behind after cleanup", n)
		}
	}
}
