//go:build vmtest

package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/hakeeper/hakeeper/lvs"
	"github.com/hakeeper/hakeeper/lvs/ipvskernel"
	"github.com/hakeeper/hakeeper/test/netlab"
)

// The connection-sync lab is the LVS lab with a NAT and a DR VIP, each
// serving a plain and a persistent TCP echo service, and a gateway VIP
// the real servers route outside clients through (NAT replies must
// return through the director). NAT clients are "outside", in
// 203.0.113.0/24 on the client's link; DR clients use the client's own
// addresses, to which the real servers answer directly.
var (
	syncVIPNAT  = netip.MustParseAddr("192.0.2.110")
	syncVIPDR   = netip.MustParseAddr("192.0.2.111")
	syncGateway = netip.MustParseAddr("192.0.2.99")
)

const (
	syncPort        = 7000 // plain service
	syncPersistPort = 7001 // persistent service
	syncOutside     = "203.0.113.0/24"
)

// outsideAddr is the i-th outside client address.
func outsideAddr(i int) netip.Addr { return netip.AddrFrom4([4]byte{203, 0, 113, byte(50 + i)}) }

func connSyncDescription(withSync bool) string {
	cs := ""
	if withSync {
		cs = "    connectionSync: {}\n"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `cluster: conn-sync
nodes:
  director1: {address: 192.0.2.1, interface: %[1]s}
  director2: {address: 192.0.2.2, interface: %[1]s}
vipGroups:
  lb:
    vrid: 20
    vips: [%[2]s/32, %[3]s/32, %[4]s/32]
    nodes: [director1, director2]
    advertInterval: %[5]s
%[6]sservices:
`, netlab.LVSIface, syncVIPNAT, syncVIPDR, syncGateway, labAdvert, cs)
	for _, s := range []struct {
		name    string
		vip     netip.Addr
		port    int
		fwd     string
		persist bool
	}{
		{"nat", syncVIPNAT, syncPort, "nat", false}, {"nat-persist", syncVIPNAT, syncPersistPort, "nat", true},
		{"dr", syncVIPDR, syncPort, "dr", false}, {"dr-persist", syncVIPDR, syncPersistPort, "dr", true},
	} {
		fmt.Fprintf(&b, "  %s:\n    vip: %s\n    port: %d\n    forwarding: %s\n    scheduler: rr\n", s.name, s.vip, s.port, s.fwd)
		if s.persist {
			b.WriteString("    persistence: {timeout: 600s}\n")
		}
		fmt.Fprintf(&b, "    check: {interval: %[1]s, timeout: %[1]s, fall: 2, tcp: {}}\n", labCheck)
		fmt.Fprintf(&b, "    realServers: [{address: %s}, {address: %s}]\n", rsAddr(1), rsAddr(2))
	}
	return b.String()
}

// echoServer answers each connection with its name, then echoes every
// line prefixed with it: a long-lived connection shows which real
// server it reaches for as long as it lives.
type echoServer struct {
	name  string
	ls    []net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func startEcho(t testing.TB, nd *netlab.Node, name string, ports ...int) *echoServer {
	e := &echoServer{name: name}
	t.Cleanup(e.close)
	for _, p := range ports {
		l, err := nd.Listen(fmt.Sprintf(":%d", p))
		if err != nil {
			t.Fatal(err)
		}
		e.ls = append(e.ls, l)
		go e.serve(l)
	}
	return e
}

func (e *echoServer) serve(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		e.mu.Lock()
		e.conns = append(e.conns, c)
		e.mu.Unlock()
		go func() {
			defer c.Close()
			fmt.Fprintf(c, "%s\n", e.name)
			r := bufio.NewReader(c)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				fmt.Fprintf(c, "%s %s", e.name, line)
			}
		}()
	}
}

func (e *echoServer) close() {
	for _, l := range e.ls {
		l.Close()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.conns {
		c.Close()
	}
}

// echoConn is a client's long-lived connection through a VIP.
type echoConn struct {
	what   string // service and client, for messages
	c      net.Conn
	r      *bufio.Reader
	server string // the real server's greeting
	local  string // the client's address:port, as ipvsadm -Lnc lists it
}

func dialEcho(client *netlab.Node, what string, src netip.Addr, dst netip.AddrPort) (*echoConn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), labRequest)
	defer cancel()
	c, err := client.Dial(ctx, src, dst)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	e := &echoConn{what: what, c: c, r: bufio.NewReader(c), local: c.LocalAddr().String()}
	c.SetReadDeadline(time.Now().Add(labRequest))
	greeting, err := e.r.ReadString('\n')
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("%s: no greeting: %w", what, err)
	}
	e.server = strings.TrimSpace(greeting)
	return e, nil
}

// ping sends a line and waits for its echo from the same real server.
// A connection the new director does not know is reset by it (its
// kernel holds the VIP but no socket), so a broken one fails at once.
func (e *echoConn) ping(timeout time.Duration) error {
	e.c.SetDeadline(time.Now().Add(timeout))
	if _, err := fmt.Fprintf(e.c, "ping\n"); err != nil {
		return fmt.Errorf("%s: %w", e.what, err)
	}
	line, err := e.r.ReadString('\n')
	if err != nil {
		return fmt.Errorf("%s: %w", e.what, err)
	}
	if got, want := strings.TrimSpace(line), e.server+" ping"; got != want {
		return fmt.Errorf("%s: echo %q, want %q (from the real server it started on)", e.what, got, want)
	}
	return nil
}

// syncLab is the connection-sync lab on top of the LVS lab's nodes.
type syncLab struct {
	*lvsLab
	d1, d2 *netlab.Node
}

// newSyncLab builds the lab and runs hakeeper on both directors with
// the description, director1 master.
func newSyncLab(t testing.TB, withSync bool, outside int) *syncLab {
	l := &syncLab{lvsLab: newLVSLab(t)}
	lab := l.lab
	l.d1, l.d2 = lab.Directors[0], lab.Directors[1]
	sh := func(nd *netlab.Node, script string) {
		t.Helper()
		if out, err := nd.Exec("sh", "-c", script); err != nil {
			t.Fatalf("%s: %s: %v: %s", nd.Name, script, err, out)
		}
	}
	ip := func(args ...string) {
		t.Helper()
		if err := netlab.IP(args...); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range lab.Directors {
		// Forwarding for NAT; no redirects, or a real server would be
		// told to send its replies to the client directly.
		sh(d, "echo 1 >/proc/sys/net/ipv4/ip_forward; for i in all default eth0; do echo 0 >/proc/sys/net/ipv4/conf/$i/send_redirects; done")
		ip("-n", d.Name, "route", "add", syncOutside, "via", lab.ClientAddrs[0].String())
	}
	for i, rs := range lab.RealServers[:2] {
		startEcho(t, rs, fmt.Sprintf("web%d", i+1), syncPort, syncPersistPort)
		// The DR VIP on lo, unannounced (as hakeeper's real-server role
		// would set it up), and the way back to outside clients.
		ip("-n", rs.Name, "addr", "add", syncVIPDR.String()+"/32", "dev", "lo")
		sh(rs, "for i in all eth0; do echo 1 >/proc/sys/net/ipv4/conf/$i/arp_ignore; echo 2 >/proc/sys/net/ipv4/conf/$i/arp_announce; done")
		ip("-n", rs.Name, "route", "add", syncOutside, "via", syncGateway.String())
	}
	for i := range outside {
		ip("-n", lab.Client.Name, "addr", "add", outsideAddr(i).String()+"/32", "dev", lab.Client.Iface)
	}
	l.commit("conn sync lab", connSyncDescription(withSync))
	l.start(l.d1)
	l.start(l.d2)
	l.waitHolder2(t, l.d1)
	for _, d := range lab.Directors {
		l.waitIPVS(t, d, "with 4 services of 2 servers each", func(ipvs netlab.IPVS) bool {
			n := 0
			for _, ds := range ipvs {
				n += len(ds)
			}
			return len(ipvs) == 4 && n == 8
		})
	}
	return l
}

// waitHolder2 waits until want alone holds the lab's VIPs.
func (l *syncLab) waitHolder2(t testing.TB, want *netlab.Node) {
	t.Helper()
	vips := []netip.Addr{syncVIPNAT, syncVIPDR, syncGateway}
	err := netlab.Wait(context.Background(), labWait, 10*time.Millisecond, func() (bool, error) {
		h, err := l.lab.Holders(vips...)
		for _, v := range vips {
			if len(h[v]) != 1 || h[v][0] != want {
				return false, err
			}
		}
		return true, err
	})
	if err != nil {
		t.Fatalf("VIPs not held by %s alone: %v", want.Name, err)
	}
}

// syncDaemons reads a director's kernel sync daemons: "master", "backup"
// or "master,backup"; "" for none.
func syncDaemons(nd *netlab.Node) (string, error) {
	k, err := ipvskernel.NewSync("/run/netns/" + nd.Name)
	if err != nil {
		return "", err
	}
	defer k.Close()
	ds, err := k.SyncDaemons()
	var states []string
	for _, d := range ds {
		if d.Interface != netlab.LVSIface || d.SyncID != 20 {
			return "", fmt.Errorf("daemon %s, want one on %s with the VRID as sync ID", d, netlab.LVSIface)
		}
		states = append(states, d.State.String())
	}
	return strings.Join(states, ","), err
}

// waitDaemons waits until the directors run the daemons want names.
func (l *syncLab) waitDaemons(t testing.TB, want map[*netlab.Node]string) {
	t.Helper()
	got := map[string]string{}
	err := netlab.Wait(context.Background(), labWait, 20*time.Millisecond, func() (bool, error) {
		ok := true
		for nd, w := range want {
			s, err := syncDaemons(nd)
			if err != nil {
				return false, err
			}
			got[nd.Name] = s
			ok = ok && s == w
		}
		return ok, nil
	})
	if err != nil {
		t.Fatalf("sync daemons %v: %v", got, err)
	}
}

// synced reports which of conns the director's connection table lists
// (ipvsadm -Lnc: "TCP 14:59 ESTABLISHED client:port vip:port rs:port").
func synced(nd *netlab.Node, conns []*echoConn) ([]*echoConn, error) {
	out, err := nd.Exec("ipvsadm", "-Lnc")
	if err != nil {
		return nil, fmt.Errorf("ipvsadm -Lnc: %v: %s", err, out)
	}
	var have []*echoConn
	for _, c := range conns {
		if strings.Contains(string(out), " "+c.local+" ") {
			have = append(have, c)
		}
	}
	return have, nil
}

// crash kills director1's hakeeper and takes its link down, as a
// director that dies with its kernel state; director2 takes over.
func (l *syncLab) crash(t testing.TB) {
	t.Helper()
	p := l.nodes[l.lab.Names[l.d1]].proc
	p.Kill()
	if err := p.Wait(labWait); err != nil {
		t.Fatal(err)
	}
	if err := netlab.IP("-n", l.d1.Name, "link", "set", l.d1.Iface, "down"); err != nil {
		t.Fatal(err)
	}
	// director1's VIPs stay on its downed link, as on a dead box.
	err := netlab.Wait(context.Background(), labWait, 10*time.Millisecond, func() (bool, error) {
		for _, v := range []netip.Addr{syncVIPNAT, syncVIPDR, syncGateway} {
			if has, err := l.d2.HasAddr(l.d2.Iface, v); !has || err != nil {
				return false, err
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("director2 did not take the VIPs: %v", err)
	}
}

// recover restarts director1, which drops the VIPs it left and then
// preempts director2 once its link is back.
func (l *syncLab) recover(t testing.TB) {
	t.Helper()
	l.start(l.d1)
	err := netlab.Wait(context.Background(), labWait, 10*time.Millisecond, func() (bool, error) {
		has, err := l.d1.HasAddr(l.d1.Iface, syncVIPNAT)
		return !has, err
	})
	if err != nil {
		t.Fatalf("director1 kept its stale VIPs after restarting: %v", err)
	}
	if err := netlab.IP("-n", l.d1.Name, "link", "set", l.d1.Iface, "up"); err != nil {
		t.Fatal(err)
	}
	// Taking the link down flushed the route to the outside clients.
	if err := netlab.IP("-n", l.d1.Name, "route", "replace", syncOutside, "via", l.lab.ClientAddrs[0].String()); err != nil {
		t.Fatal(err)
	}
	l.waitHolder2(t, l.d1)
}

// TestConnSyncLab is issue 12's end to end test: long-lived TCP
// connections through a NAT and a DR VIP, plain and persistent, survive
// the master director's crash when the directors sync connections, and
// the persistence templates keep clients on their real servers; without
// sync the same connections are reset by the new master. The sync
// daemons follow VRRP both ways, the preemption back included.
func TestConnSyncLab(t *testing.T) {
	for _, withSync := range []bool{true, false} {
		t.Run(fmt.Sprintf("sync=%v", withSync), func(t *testing.T) { connSyncScenario(t, withSync) })
	}
}

func connSyncScenario(t *testing.T, withSync bool) {
	l := newSyncLab(t, withSync, 2)
	lab := l.lab
	none := map[*netlab.Node]string{l.d1: "", l.d2: ""}
	if withSync {
		l.waitDaemons(t, map[*netlab.Node]string{l.d1: "master", l.d2: "backup"})
	} else {
		l.waitDaemons(t, none)
	}

	// Clients A and B (outside for NAT, on the link for DR): A on every
	// service, B too on the persistent ones, whose rr scheduling puts
	// the two on different real servers.
	type svc struct {
		name    string
		vip     netip.Addr
		port    uint16
		clients []netip.Addr
	}
	services := []svc{
		{"nat", syncVIPNAT, syncPort, []netip.Addr{outsideAddr(0)}},
		{"nat-persist", syncVIPNAT, syncPersistPort, []netip.Addr{outsideAddr(0), outsideAddr(1)}},
		{"dr", syncVIPDR, syncPort, []netip.Addr{lab.ClientAddrs[1]}},
		{"dr-persist", syncVIPDR, syncPersistPort, []netip.Addr{lab.ClientAddrs[1], lab.ClientAddrs[2]}},
	}
	var conns []*echoConn
	byService := map[string][]*echoConn{}
	for _, s := range services {
		for i, src := range s.clients {
			c, err := dialEcho(lab.Client, fmt.Sprintf("%s client %c", s.name, 'A'+i), src, netip.AddrPortFrom(s.vip, s.port))
			if err != nil {
				t.Fatal(err)
			}
			defer c.c.Close()
			if err := c.ping(labRequest); err != nil {
				t.Fatalf("before the crash: %v", err)
			}
			conns = append(conns, c)
			byService[s.name] = append(byService[s.name], c)
		}
		if cs := byService[s.name]; len(cs) == 2 && cs[0].server == cs[1].server {
			t.Fatalf("%s: clients A and B both on %s; rr should have spread them", s.name, cs[0].server)
		}
	}

	if withSync {
		// The master sends what it has every couple of seconds: wait
		// until the backup lists every connection.
		var have []*echoConn
		err := netlab.Wait(context.Background(), labWait, 100*time.Millisecond, func() (bool, error) {
			var err error
			have, err = synced(l.d2, conns)
			return len(have) == len(conns), err
		})
		if err != nil {
			out, _ := l.d2.Exec("ipvsadm", "-Lnc")
			t.Fatalf("director2 lists %d of %d connections: %v\n%s", len(have), len(conns), err, out)
		}
	} else if have, err := synced(l.d2, conns); err != nil || len(have) > 0 {
		t.Fatalf("without sync director2 lists %d connections (err %v)", len(have), err)
	}

	l.crash(t)
	for _, c := range conns {
		err := c.ping(labRequest)
		switch {
		case withSync && err != nil:
			t.Errorf("after the crash, with sync: %v", err)
		case !withSync && err == nil:
			t.Errorf("after the crash, without sync: %s still works: the test cannot tell sync from its absence", c.what)
		}
	}
	// New connections of the persistent services' clients, B first: the
	// new master's own rr would now give B the server A had.
	moved := 0
	for _, name := range []string{"nat-persist", "dr-persist"} {
		old := byService[name]
		for _, i := range []int{1, 0} {
			s := services[slices.IndexFunc(services, func(s svc) bool { return s.name == name })]
			c, err := dialEcho(lab.Client, old[i].what+" (new)", s.clients[i], netip.AddrPortFrom(s.vip, s.port))
			if err != nil {
				t.Fatal(err)
			}
			c.c.Close()
			if withSync && c.server != old[i].server {
				t.Errorf("%s: on %s after the failover, on %s before: the persistence template was not synced", c.what, c.server, old[i].server)
			}
			t.Logf("%s: %s before the crash, %s after", c.what, old[i].server, c.server)
			if c.server != old[i].server {
				moved++
			}
		}
	}
	if !withSync && moved == 0 {
		t.Error("without sync every persistent client kept its real server: the test cannot tell a synced template from rr's order")
	}

	if withSync {
		l.waitDaemons(t, map[*netlab.Node]string{l.d2: "master"})
		if r, err := l.status(l.nodes["director2"]); err != nil || len(r.SyncDaemons) != 1 || r.SyncDaemons[0].State != "master" || r.SyncDaemons[0].Group != "lb" {
			t.Errorf("director2's status shows sync daemons %+v (err %v), want lb's master", r.SyncDaemons, err)
		}
	}
	l.recover(t)
	if withSync {
		back := time.Now()
		l.waitDaemons(t, map[*netlab.Node]string{l.d1: "master", l.d2: "backup"})
		t.Logf("daemons switched %v after director1 held the VIPs again", time.Since(back).Round(time.Millisecond))
		l.planNothing(t)
		l.repairsHandStop(t)
	} else {
		l.waitDaemons(t, none)
	}
}

// planNothing runs `hakeeper plan` against each director: against its
// kernel and its daemon's VRRP state, nothing is pending (exit 0), the
// sync daemon included.
func (l *syncLab) planNothing(t *testing.T) {
	t.Helper()
	for _, nd := range l.lab.Directors {
		n := l.nodes[l.lab.Names[nd]]
		cmd := nd.Command(context.Background(), l.exe, "plan", "--node", n.name, "--addr", "unix:"+n.sock, l.repo.Dir)
		cmd.Env = append(cmd.Environ(), labMainEnv+"=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: hakeeper plan: %v, want nothing pending:\n%s", n.name, err, out)
		}
	}
}

// repairsHandStop stops director2's backup daemon by hand: the next
// drift pass starts it again and the status names the repair.
func (l *syncLab) repairsHandStop(t *testing.T) {
	t.Helper()
	k, err := ipvskernel.NewSync("/run/netns/" + l.d2.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if err := k.StopSyncDaemon(lvs.SyncBackup); err != nil {
		t.Fatal(err)
	}
	l.waitDaemons(t, map[*netlab.Node]string{l.d2: "backup"})
	err = netlab.Wait(context.Background(), labWait, 20*time.Millisecond, func() (bool, error) {
		r, err := l.status(l.nodes["director2"])
		return err == nil && strings.Contains(r.Drift.LastWhat, "sync daemon backup"), nil
	})
	if err != nil {
		t.Errorf("director2's status does not report the sync daemon's repair: %v", err)
	}
}

var (
	syncBenchConns  = flag.Int("syncbench.conns", 100, "established connections per forwarding method in BenchmarkConnSync")
	syncBenchRounds = flag.Int("syncbench.rounds", 5, "crashes per BenchmarkConnSync case; the figure is their median")
)

// syncBenchAge is how long the connections live before the crash: more
// than the kernel's master daemon takes to send what it has buffered
// (it flushes a message at the latest 2 s after its first connection).
const syncBenchAge = 3 * time.Second

// BenchmarkConnSync is issue 12's figure: the share of established
// connections (plain NAT and DR services) that survive the master
// director's crash, with and without connection sync; printed by `make
// bench-vm`, never asserted.
func BenchmarkConnSync(b *testing.B) {
	needVMLab(b)
	var summary strings.Builder
	fmt.Fprintf(&summary, "Connections surviving a director crash, QEMU VM under TCG, %d per method established %v before the crash, median of %d crashes\n",
		*syncBenchConns, syncBenchAge, *syncBenchRounds)
	tw := tabwriter.NewWriter(&summary, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "connection sync\tNAT\tDR\tper crash (NAT; DR)")
	for _, withSync := range []bool{true, false} {
		b.Run(fmt.Sprintf("sync=%v", withSync), func(b *testing.B) {
			nat, dr := benchConnSync(b, withSync)
			fmt.Fprintf(tw, "%s\t%.0f%%\t%.0f%%\t%s; %s\n", map[bool]string{true: "on", false: "off"}[withSync],
				medianF(nat), medianF(dr), percents(nat), percents(dr))
			b.ReportMetric(medianF(nat), "%-NAT-surviving")
			b.ReportMetric(medianF(dr), "%-DR-surviving")
		})
	}
	tw.Flush()
	fmt.Print(summary.String())
}

func benchConnSync(b *testing.B, withSync bool) (nat, dr []float64) {
	l := newSyncLab(b, withSync, 1)
	lab := l.lab
	b.ResetTimer()
	for range *syncBenchRounds {
		// The steady state: both daemons switched after the last
		// preemption back, before any connection opens.
		if withSync {
			l.waitDaemons(b, map[*netlab.Node]string{l.d1: "master", l.d2: "backup"})
		}
		var conns [2][]*echoConn
		for m, dst := range []netip.AddrPort{netip.AddrPortFrom(syncVIPNAT, syncPort), netip.AddrPortFrom(syncVIPDR, syncPort)} {
			src := []netip.Addr{outsideAddr(0), lab.ClientAddrs[1]}[m]
			for i := range *syncBenchConns {
				c, err := dialEcho(lab.Client, fmt.Sprintf("%s #%d", dst, i), src, dst)
				if err != nil {
					b.Fatal(err)
				}
				if err := c.ping(labRequest); err != nil {
					b.Fatal(err)
				}
				conns[m] = append(conns[m], c)
			}
		}
		time.Sleep(syncBenchAge)
		l.crash(b)
		var share [2]float64
		var wg sync.WaitGroup
		var mu sync.Mutex
		for m := range conns {
			for _, c := range conns[m] {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if c.ping(labRequest) == nil {
						mu.Lock()
						share[m] += 100 / float64(len(conns[m]))
						mu.Unlock()
					}
				}()
			}
		}
		wg.Wait()
		nat, dr = append(nat, share[0]), append(dr, share[1])
		for m := range conns {
			for _, c := range conns[m] {
				c.c.Close()
			}
		}
		l.recover(b)
	}
	return nat, dr
}

func medianF(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func percents(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf("%.0f", x)
	}
	return strings.Join(parts, " ")
}
