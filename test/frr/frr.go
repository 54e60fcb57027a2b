// Package frr runs FRRouting (zebra, bgpd, bfdd from Debian's frr
// package) inside a test namespace as the router hakeeper's directors
// peer with, and reads what it learnt: BGP sessions and the kernel FIB's
// next hops for a VIP. Every file of an instance (config, pid, vty and
// zebra sockets) is in the test's temporary directory, so several
// routers run side by side and nothing outside the namespace changes.
package frr

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/test/netlab"
	"github.com/hakeeper/hakeeper/test/netns"
)

// Dir is where Debian installs the FRR daemons.
const Dir = "/usr/lib/frr"

// Skip skips t when FRR is not installed.
func Skip(t testing.TB) {
	t.Helper()
	netns.Skip(t)
	for _, d := range []string{"zebra", "bgpd", "bfdd"} {
		if _, err := os.Stat(filepath.Join(Dir, d)); err != nil {
			t.Skip("needs FRR (Debian package frr): " + err.Error())
		}
	}
	if _, err := exec.LookPath("vtysh"); err != nil {
		t.Skip("needs vtysh (Debian package frr)")
	}
}

// Neighbor is one director the router peers with.
type Neighbor struct {
	Address  netip.Addr
	ASN      uint32
	Password string
	// BFD enables BFD with the router's BFD timers.
	BFD bool
	// Keepalive and Hold are the BGP timers in seconds (FRR's minimum
	// hold is 3).
	Keepalive, Hold int
}

// Config is the router's BGP setup.
type Config struct {
	ASN       uint32
	RouterID  netip.Addr
	Neighbors []Neighbor
	// BFDInterval (ms) and BFDMultiplier are the BFD timers both ways.
	BFDInterval, BFDMultiplier int
}

// Router is a running FRR.
type Router struct {
	Node  *netns.Node
	dir   string
	procs []*netns.Process
}

// Start runs zebra, bfdd and bgpd in node with c.
func Start(t testing.TB, node *netns.Node, c Config) *Router {
	t.Helper()
	Skip(t)
	// The daemons drop to Debian's frr user, which must reach and write
	// this directory (t.TempDir's parent is root's alone).
	dir, err := os.MkdirTemp("", "hkv-frr-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := chownToFRR(dir); err != nil {
		t.Fatal(err)
	}
	r := &Router{Node: node, dir: dir}
	if err := os.WriteFile(r.path("zebra.conf"), []byte("hostname router\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bfdConf := fmt.Sprintf("bfd\n profile hk\n  transmit-interval %d\n  receive-interval %d\n  detect-multiplier %d\n!\n",
		c.BFDInterval, c.BFDInterval, c.BFDMultiplier)
	if err := os.WriteFile(r.path("bfdd.conf"), []byte(bfdConf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.path("bgpd.conf"), []byte(bgpdConf(c)), 0o644); err != nil {
		t.Fatal(err)
	}
	common := []string{"--vty_socket", r.dir, "-z", r.path("zserv.api"), "-P", "0", "--log", "stdout"}
	for _, d := range []string{"zebra", "bfdd", "bgpd"} {
		args := append([]string{filepath.Join(Dir, d), "-f", r.path(d + ".conf"), "-i", r.path(d + ".pid")}, common...)
		switch d {
		case "bfdd":
			args = append(args, "--bfdctl", r.path("bfdd.sock"))
		case "bgpd":
			// BGP's port only on the router's own addresses in its namespace.
			args = append(args, "-l", node.Addr.Addr().String(), "-l", node.Addr6.Addr().String())
		}
		r.procs = append(r.procs, node.Start(t, args...))
		// Each daemon connects to zebra; starting zebra first saves their retries.
		if d == "zebra" {
			r.waitFile(t, r.path("zserv.api"))
		}
	}
	r.waitFile(t, r.path("bgpd.vty"))
	return r
}

func bgpdConf(c Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "hostname router\nrouter bgp %d\n bgp router-id %s\n no bgp ebgp-requires-policy\n no bgp network import-check\n", c.ASN, c.RouterID)
	for _, n := range c.Neighbors {
		fmt.Fprintf(&b, " neighbor %s remote-as %d\n neighbor %s timers %d %d\n neighbor %s timers connect 1\n", n.Address, n.ASN, n.Address, n.Keepalive, n.Hold, n.Address)
		if n.Password != "" {
			fmt.Fprintf(&b, " neighbor %s password %s\n", n.Address, n.Password)
		}
		if n.BFD {
			fmt.Fprintf(&b, " neighbor %s bfd\n neighbor %s bfd profile hk\n", n.Address, n.Address)
		}
	}
	b.WriteString(" address-family ipv4 unicast\n  maximum-paths 16\n exit-address-family\n address-family ipv6 unicast\n  maximum-paths 16\n")
	for _, n := range c.Neighbors {
		if n.Address.Is6() {
			fmt.Fprintf(&b, "  neighbor %s activate\n", n.Address)
		}
	}
	b.WriteString(" exit-address-family\n!\n")
	return b.String()
}

func (r *Router) path(name string) string { return filepath.Join(r.dir, name) }

func (r *Router) waitFile(t testing.TB, p string) {
	t.Helper()
	err := netlab.Wait(t.Context(), 30*time.Second, 20*time.Millisecond, func() (bool, error) {
		for _, pr := range r.procs {
			if pr.Exited() {
				return false, fmt.Errorf("%s exited: %v: %s", pr.Name, pr.Err(), pr.Output())
			}
		}
		_, err := os.Stat(p)
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("FRR in %s: waiting for %s: %v", r.Node.Name, p, err)
	}
}

// Vtysh runs one vtysh command against this router.
func (r *Router) Vtysh(cmd string) (string, error) {
	out, err := exec.Command("vtysh", "--vty_socket", r.dir, "-c", cmd).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("vtysh -c %q: %w: %s", cmd, err, out)
	}
	return string(out), nil
}

// NextHops are the gateways of prefix's route in the router's kernel
// FIB, sorted (none when there is no route).
func (r *Router) NextHops(prefix netip.Prefix) ([]netip.Addr, error) {
	fam := "-4"
	if prefix.Addr().Is6() {
		fam = "-6"
	}
	out, err := r.Node.Exec("ip", fam, "-j", "route", "show", "exact", prefix.String())
	if err != nil {
		return nil, fmt.Errorf("%s: ip route: %w: %s", r.Node.Name, err, out)
	}
	var routes []struct {
		Gateway  string `json:"gateway"`
		Nexthops []struct {
			Gateway string `json:"gateway"`
		} `json:"nexthops"`
	}
	if err := json.Unmarshal(out, &routes); err != nil {
		return nil, fmt.Errorf("%s: ip -j route: %w: %s", r.Node.Name, err, out)
	}
	var hops []netip.Addr
	for _, rt := range routes {
		gws := []string{rt.Gateway}
		for _, nh := range rt.Nexthops {
			gws = append(gws, nh.Gateway)
		}
		for _, g := range gws {
			if a, err := netip.ParseAddr(g); err == nil {
				hops = append(hops, a)
			}
		}
	}
	slices.SortFunc(hops, netip.Addr.Compare)
	return hops, nil
}

// WaitNextHops waits until prefix's next hops in the FIB are exactly
// want (none: no route) and returns when it saw them.
func (r *Router) WaitNextHops(prefix netip.Prefix, want []netip.Addr, timeout time.Duration) (time.Time, error) {
	want = slices.Clone(want)
	slices.SortFunc(want, netip.Addr.Compare)
	var last []netip.Addr
	err := netlab.Wait(context.Background(), timeout, 10*time.Millisecond, func() (bool, error) {
		h, err := r.NextHops(prefix)
		last = h
		return slices.Equal(h, want), err
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: next hops of %s: want %v, have %v: %w", r.Node.Name, prefix, want, last, err)
	}
	return time.Now(), nil
}

// Session is the router's view of one BGP neighbour.
type Session struct {
	State string `json:"bgpState"`
	// LastReset is why the session last went down ("BFD down received",
	// "Hold Timer Expired", "Notification received ...").
	LastReset string `json:"lastResetDueTo"`
	// LastNotification is the last NOTIFICATION's reason ("Hold Timer
	// Expired", "Cease/Administrative Shutdown").
	LastNotification string `json:"lastNotificationReason"`
}

// Why is the last reset with its notification's reason.
func (s Session) Why() string { return s.LastReset + ": " + s.LastNotification }

// Sessions returns the router's BGP neighbours by address.
func (r *Router) Sessions() (map[netip.Addr]Session, error) {
	out, err := r.Vtysh("show bgp neighbors json")
	if err != nil {
		return nil, err
	}
	var m map[string]Session
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		return nil, fmt.Errorf("show bgp neighbors json: %w: %s", err, out)
	}
	s := map[netip.Addr]Session{}
	for k, v := range m {
		if a, err := netip.ParseAddr(k); err == nil {
			s[a] = v
		}
	}
	return s, nil
}

// Stop ends the daemons (SIGTERM), bgpd first so the routes go with it.
func (r *Router) Stop() {
	for _, p := range slices.Backward(r.procs) {
		p.Signal(syscall.SIGTERM)
		p.Process.Wait(10 * time.Second)
	}
}

// MD5Failures is the router kernel's count of TCP segments dropped for a
// wrong or missing TCP-MD5 signature (TcpExtTCPMD5Failure and
// TCPMD5Unexpected): the evidence that a peer with a wrong password tried.
func (r *Router) MD5Failures() (int, error) {
	out, err := r.Node.Exec("cat", "/proc/net/netstat")
	if err != nil {
		return 0, fmt.Errorf("%s: /proc/net/netstat: %w", r.Node.Name, err)
	}
	lines := strings.Split(string(out), "\n")
	n := 0
	for i := 0; i+1 < len(lines); i += 2 {
		names, vals := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		for j, name := range names {
			if (name == "TCPMD5Failure" || name == "TCPMD5NotFound") && j < len(vals) {
				var v int
				fmt.Sscan(vals[j], &v)
				n += v
			}
		}
	}
	return n, nil
}

func chownToFRR(dir string) error {
	u, err := user.Lookup("frr")
	if err != nil {
		return fmt.Errorf("FRR's user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return os.Chown(dir, uid, gid)
}
