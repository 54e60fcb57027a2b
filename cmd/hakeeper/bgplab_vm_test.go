//go:build vmtest

package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/test/netlab"
)

// The BGP data path (issue 14) in the VM, which has IPVS: a client, a
// router, three directors and two real servers on one bridge. The router
// reaches the VIP over an ECMP route through the three directors, the
// route BGP would install; the test edits it as the router would on a
// withdrawal and a new announcement (the sessions and the announcements
// themselves are test/bgp's, against FRR, which the VM does not carry).
// Every node runs `hakeeper run` on one description: the directors a bgp
// group with an mh service (VIP on lo, sloppy_tcp), the real servers
// their DR role.
const (
	bgpLabVIP  = "203.0.113.80"
	bgpLabPort = 8080
	// bgpLabConns is how many connections the client holds: enough that
	// every director carries some ((2/3)^24 is nil for practical purposes).
	bgpLabConns = 24
)

func bgpLabAddr(host byte) netip.Addr { return netip.AddrFrom4([4]byte{192, 0, 2, host}) }

// bgpLabDescription: the directors announce the VIP (their router never
// answers on port 179 here: the sessions stay down, which changes
// nothing of the data path); mh with mh-port, so one client's
// connections spread over the real servers and a moved connection has a
// real server to keep.
func bgpLabDescription() string {
	return fmt.Sprintf(`cluster: bgp-lab
nodes:
  director1: {address: 192.0.2.1, interface: eth0}
  director2: {address: 192.0.2.2, interface: eth0}
  director3: {address: 192.0.2.3, interface: eth0}
  web1: {address: 192.0.2.21}
  web2: {address: 192.0.2.22}
bgp:
  asn: 64600
  peers: [{address: 192.0.2.254, asn: 64512}]
vipGroups:
  www: {mode: bgp, vips: [%s], nodes: [director1, director2, director3]}
services:
  www:
    vip: %s
    port: %d
    forwarding: dr
    schedulerFlags: [mh-port]
    check: {tcp: {}, interval: 1s, timeout: 1s, fall: 2}
    realServers: [{node: web1}, {node: web2}]
`, bgpLabVIP, bgpLabVIP, bgpLabPort)
}

// lineBackend answers each line of every connection with its name.
func lineBackend(t *testing.T, nd *netlab.Node, name string) {
	l, err := nd.Listen(fmt.Sprintf(":%d", bgpLabPort))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					if _, err := r.ReadString('\n'); err != nil {
						return
					}
					if _, err := fmt.Fprintln(c, name); err != nil {
						return
					}
				}
			}()
		}
	}()
}

// bgpConn is one client connection and the real server that answers it.
type bgpConn struct {
	c      net.Conn
	r      *bufio.Reader
	port   uint16
	server string
}

func (bc *bgpConn) ask() (string, error) {
	bc.c.SetDeadline(time.Now().Add(labRequest))
	if _, err := fmt.Fprintln(bc.c, "ping"); err != nil {
		return "", err
	}
	s, err := bc.r.ReadString('\n')
	return strings.TrimSpace(s), err
}

// ipvsConnPorts lists the client ports of the IPVS connection entries
// in nd (from /proc/net/ip_vs_conn: hexadecimal addresses and ports).
func ipvsConnPorts(nd *netlab.Node, client netip.Addr) (map[uint16]bool, error) {
	out, err := nd.Exec("cat", "/proc/net/ip_vs_conn")
	if err != nil {
		return nil, fmt.Errorf("%s: %v: %s", nd.Name, err, out)
	}
	a := client.As4()
	hexClient := fmt.Sprintf("%02X%02X%02X%02X", a[0], a[1], a[2], a[3])
	ports := map[uint16]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 || f[0] != "TCP" || f[1] != hexClient {
			continue
		}
		if p, err := strconv.ParseUint(f[2], 16, 16); err == nil {
			ports[uint16(p)] = true
		}
	}
	return ports, nil
}

// TestBGPLabECMP: connections spread over the three directors by the
// router's ECMP hash; withdrawing one director's route breaks no
// connection, and those it carried continue through another director on
// the same real server (mh gives every director the same choice,
// sloppy_tcp lets a director take up a connection mid-way); the
// director's route back breaks none either.
func TestBGPLabECMP(t *testing.T) {
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		if os.Getenv("HAKEEPER_IN_VM") != "" {
			t.Fatal("no IPVS in the VM")
		}
		t.Skip("no IPVS: run with -exec test/vm/run")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2's ip (HAKEEPER_VM_EXTRA=/bin/ip)")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	lab, err := netlab.New(fmt.Sprintf("hkb%d", os.Getpid()))
	t.Cleanup(func() { lab.Close() })
	if err != nil {
		t.Fatal(err)
	}
	nodes := map[string]*netlab.Node{}
	add := func(name string, host byte) *netlab.Node {
		nd, err := lab.AddNode(netlab.NodeSpec{Suffix: name, Iface: netlab.LVSIface, MAC: net.HardwareAddr{0x02, 0x00, 0x5e, 0x1c, 0x00, host},
			Addrs: []netip.Prefix{netip.PrefixFrom(bgpLabAddr(host), 24)}})
		if err != nil {
			t.Fatal(err)
		}
		nodes[name] = nd
		return nd
	}
	client, router := add("client", 50), add("router", 254)
	directors := []*netlab.Node{add("director1", 1), add("director2", 2), add("director3", 3)}
	web := []*netlab.Node{add("web1", 21), add("web2", 22)}
	sh := func(nd *netlab.Node, cmd string) {
		t.Helper()
		if out, err := nd.Exec("sh", "-c", cmd); err != nil {
			t.Fatalf("%s: %s: %v: %s", nd.Name, cmd, err, out)
		}
	}
	// The router forwards on the segment it came from, without telling
	// the client to go around it; it hashes on ports, so one client's
	// connections spread over the directors.
	sh(router, "echo 1 > /proc/sys/net/ipv4/ip_forward; echo 0 > /proc/sys/net/ipv4/conf/all/send_redirects; echo 0 > /proc/sys/net/ipv4/conf/eth0/send_redirects; echo 1 > /proc/sys/net/ipv4/fib_multipath_hash_policy")
	sh(client, "echo 0 > /proc/sys/net/ipv4/conf/all/accept_redirects; echo 0 > /proc/sys/net/ipv4/conf/eth0/accept_redirects; ip route add "+bgpLabVIP+"/32 via 192.0.2.254")
	route := func(ds ...*netlab.Node) {
		t.Helper()
		args := []string{"ip", "route", "replace", bgpLabVIP + "/32"}
		for _, d := range ds {
			args = append(args, "nexthop", "via", directorAddr(d).String())
		}
		if out, err := router.Exec(args...); err != nil {
			t.Fatalf("router: %v: %v: %s", args, err, out)
		}
	}

	desc := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(desc, []byte(bgpLabDescription()), 0o644); err != nil {
		t.Fatal(err)
	}
	for i, w := range web {
		lineBackend(t, w, fmt.Sprintf("web%d", i+1))
	}
	for _, name := range []string{"director1", "director2", "director3", "web1", "web2"} {
		nd := nodes[name]
		out := &lockedBuf{}
		cmd := nd.Command(context.Background(), exe, "run", "--node", name, "--source", desc,
			"--state-dir", t.TempDir(), "--listen", "off", "--log-level", "debug")
		cmd.Env = append(os.Environ(), labMainEnv+"=1")
		cmd.Stdout, cmd.Stderr = out, out
		p, err := netlab.Start(cmd)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			p.Kill()
			p.Wait(time.Minute)
			if t.Failed() {
				t.Logf("--- hakeeper on %s:\n%s", name, tail(out.String(), 30))
			}
		})
	}
	vip := netip.MustParseAddr(bgpLabVIP)
	for _, d := range directors {
		err := netlab.Wait(context.Background(), labWait, 50*time.Millisecond, func() (bool, error) {
			tab, err := d.ReadIPVS()
			for _, dests := range tab {
				if len(dests) == 2 && dests[0].Weight > 0 && dests[1].Weight > 0 {
					return true, nil
				}
			}
			return false, err
		})
		if err != nil {
			t.Fatalf("%s: IPVS not programmed with both real servers up: %v", d.Name, err)
		}
		if out, _ := d.Exec("cat", "/proc/sys/net/ipv4/vs/sloppy_tcp"); strings.TrimSpace(string(out)) != "1" {
			t.Fatalf("%s: sloppy_tcp %q", d.Name, out)
		}
	}
	for _, nd := range append(append([]*netlab.Node{}, directors...), web...) {
		if err := netlab.Wait(context.Background(), labWait, 50*time.Millisecond, func() (bool, error) { return nd.HasAddr("lo", vip) }); err != nil {
			t.Fatalf("%s: VIP not on lo: %v", nd.Name, err)
		}
	}
	route(directors...)

	src := bgpLabAddr(50)
	dst := netip.AddrPortFrom(vip, bgpLabPort)
	var conns []*bgpConn
	for range bgpLabConns {
		ctx, cancel := context.WithTimeout(context.Background(), labRequest)
		c, err := client.Dial(ctx, src, dst)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		bc := &bgpConn{c: c, r: bufio.NewReader(c), port: uint16(c.LocalAddr().(*net.TCPAddr).Port)}
		if bc.server, err = bc.ask(); err != nil {
			t.Fatalf("connection from port %d: %v", bc.port, err)
		}
		conns = append(conns, bc)
	}
	// carried maps each client port to the directors whose IPVS has a
	// connection entry for it (an entry outlives the flow's move).
	carried := func() map[uint16][]*netlab.Node {
		t.Helper()
		by := map[uint16][]*netlab.Node{}
		for _, d := range directors {
			ports, err := ipvsConnPorts(d, src)
			if err != nil {
				t.Fatal(err)
			}
			for p := range ports {
				by[p] = append(by[p], d)
			}
		}
		return by
	}
	before := map[uint16]*netlab.Node{}
	for p, ds := range carried() {
		if len(ds) != 1 {
			t.Fatalf("connection from port %d is on %d directors before any change", p, len(ds))
		}
		before[p] = ds[0]
	}
	count := map[*netlab.Node]int{}
	for _, bc := range conns {
		if before[bc.port] == nil {
			t.Fatalf("connection from port %d is in no director's IPVS connection table", bc.port)
		}
		count[before[bc.port]]++
	}
	for _, d := range directors {
		t.Logf("%s carries %d of %d connections", d.Name, count[d], len(conns))
		if count[d] == 0 {
			t.Fatalf("%s carries no connection: ECMP did not spread them", d.Name)
		}
	}

	// Every connection answers through each change, from the same real server.
	check := func(step string) {
		t.Helper()
		for _, bc := range conns {
			got, err := bc.ask()
			if err != nil || got != bc.server {
				t.Fatalf("%s: connection from port %d (was on %s, server %s): %q, %v", step, bc.port, before[bc.port].Name, bc.server, got, err)
			}
		}
	}
	route(directors[1:]...) // director1 withdrawn
	check("director1 withdrawn")
	after := carried()
	moved := 0
	for _, bc := range conns {
		if before[bc.port] == directors[0] && len(after[bc.port]) > 1 {
			moved++
		}
	}
	t.Logf("director1 withdrawn: all %d connections answered by their real server; %d of director1's %d now through another director",
		len(conns), moved, count[directors[0]])
	if moved != count[directors[0]] {
		t.Errorf("%d of director1's %d connections show up on another director", moved, count[directors[0]])
	}
	route(directors...) // director1 announces again
	check("director1 back")
}

// directorAddr is a lab director's address (192.0.2.N for directorN).
func directorAddr(d *netlab.Node) netip.Addr {
	n := d.Name[len(d.Name)-1] - '0'
	return bgpLabAddr(n)
}
