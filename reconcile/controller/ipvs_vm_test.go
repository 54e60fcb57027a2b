//go:build vmtest

package controller_test

// The controller end to end against real IPVS, inside the QEMU VM runner
// (test/vm): a directory source with files the test writes, the real
// lvs/ipvskernel table of a network namespace, the real health checker
// probing TCP listeners in that namespace. The VRRP engine is an idle
// stand-in: VRRP against real kernels is covered by vrrpd and test/vrrp.
//
//	go test -tags vmtest -exec "$PWD/test/vm/run" ./reconcile/controller

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/hakeeper/hakeeper/lvs"
	"github.com/hakeeper/hakeeper/lvs/check"
	"github.com/hakeeper/hakeeper/lvs/ipvskernel"
	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/model/modeltest"
	"github.com/hakeeper/hakeeper/reconcile/controller"
	"github.com/hakeeper/hakeeper/reconcile/controller/ipvsproc"
	"github.com/hakeeper/hakeeper/reconcile/source"
	"github.com/hakeeper/hakeeper/vrrpd"
)

// TestMain runs only the IPVS tests inside the VM unless -run says
// otherwise: the package's other tests need git, go and time the VM
// does not have, and run on the host anyway.
func TestMain(m *testing.M) {
	flag.Parse()
	if os.Getenv("HAKEEPER_IN_VM") == "1" {
		if f := flag.Lookup("test.run"); f != nil && f.Value.String() == "" {
			f.Value.Set("^TestIPVS")
		}
	}
	os.Exit(m.Run())
}

// idleEngine stands in for the VRRP engine: it accepts every state and
// holds no instance.
type idleEngine struct{}

func (idleEngine) Apply(*model.NodeState) error       { return nil }
func (idleEngine) RepairVIPs() []model.VIPSpec        { return nil }
func (idleEngine) Status() []vrrpd.InstanceStatus     { return nil }
func (idleEngine) CheckStatus() []vrrpd.CheckStatus   { return nil }
func (idleEngine) Drops() vrrpd.UnattributedDrops     { return nil }
func (idleEngine) Shutdown(ctx context.Context) error { return nil }

var _ controller.Engine = idleEngine{}

// countingIPVS counts the write calls reaching the kernel.
type countingIPVS struct {
	lvs.IPVS
	mu     sync.Mutex
	writes []string
}

func (c *countingIPVS) note(op string, s lvs.Service, d *lvs.Destination) {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := op + " " + s.Key().String()
	if d != nil {
		w += " " + d.Key().String()
	}
	c.writes = append(c.writes, w)
}

func (c *countingIPVS) count() int { c.mu.Lock(); defer c.mu.Unlock(); return len(c.writes) }

func (c *countingIPVS) since(n int) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.writes[n:])
}

func (c *countingIPVS) AddService(s lvs.Service) error {
	c.note("add-service", s, nil)
	return c.IPVS.AddService(s)
}
func (c *countingIPVS) UpdateService(s lvs.Service) error {
	c.note("update-service", s, nil)
	return c.IPVS.UpdateService(s)
}
func (c *countingIPVS) DeleteService(s lvs.Service) error {
	c.note("delete-service", s, nil)
	return c.IPVS.DeleteService(s)
}
func (c *countingIPVS) AddDestination(s lvs.Service, d lvs.Destination) error {
	c.note("add-destination", s, &d)
	return c.IPVS.AddDestination(s, d)
}
func (c *countingIPVS) UpdateDestination(s lvs.Service, d lvs.Destination) error {
	c.note("update-destination", s, &d)
	return c.IPVS.UpdateDestination(s, d)
}
func (c *countingIPVS) DeleteDestination(s lvs.Service, d lvs.Destination) error {
	c.note("delete-destination", s, &d)
	return c.IPVS.DeleteDestination(s, d)
}

// vmDirector is a network namespace with its own IPVS table and a dummy
// link holding the real servers' addresses, where the test's TCP
// listeners run and the checker probes them.
type vmDirector struct {
	path      string
	ns        netns.NsHandle
	mu        sync.Mutex
	listeners map[string]net.Listener
}

// The backends' addresses, on the director's dummy link.
const (
	vmBackend1 = "198.51.100.1"
	vmBackend2 = "198.51.100.2"
)

func newVMDirector(t *testing.T) *vmDirector {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		if os.Getenv("HAKEEPER_IN_VM") == "1" {
			t.Fatal("the VM has no IPVS: the ip_vs module did not load")
		}
		t.Skip("this kernel has no IPVS; run in the VM: go test -tags vmtest -exec $PWD/test/vm/run ./reconcile/controller")
	}
	if _, err := exec.LookPath("ipvsadm"); err != nil {
		t.Skip("ipvsadm not installed")
	}
	ns, err := vmNewNetns()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	d := &vmDirector{path: fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), int(ns)), ns: ns, listeners: map[string]net.Listener{}}
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	// Loopback up: without a local table the kernel refuses IPv4
	// destinations (EINVAL) in a fresh namespace.
	lo, err := h.LinkByName("lo")
	vmMust(t, err, "lo")
	vmMust(t, h.LinkSetUp(lo), "lo up")
	name := fmt.Sprintf("hkl%d", os.Getpid()%100000)
	vmMust(t, h.LinkAdd(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: name}}), "add dummy")
	link, err := h.LinkByName(name)
	vmMust(t, err, "dummy")
	for _, a := range []string{"192.0.2.100/32", vmBackend1 + "/32", vmBackend2 + "/32"} {
		addr, _ := netlink.ParseAddr(a)
		vmMust(t, h.AddrAdd(link, addr), "address "+a)
	}
	vmMust(t, h.LinkSetUp(link), "dummy up")
	return d
}

// vmNewNetns creates a namespace without entering it.
func vmNewNetns() (netns.NsHandle, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return 0, err
	}
	defer orig.Close()
	ns, err := netns.New()
	if err != nil {
		return 0, err
	}
	if err := netns.Set(orig); err != nil {
		ns.Close()
		return 0, err
	}
	return ns, nil
}

// in runs f on a thread inside the director's namespace.
func (d *vmDirector) in(f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	if err := netns.Set(d.ns); err != nil {
		return err
	}
	defer netns.Set(orig)
	return f()
}

// listen serves TCP on addr (accept and close) until stopped.
func (d *vmDirector) listen(t *testing.T, addr string) {
	t.Helper()
	var ln net.Listener
	vmMust(t, d.in(func() (err error) { ln, err = net.Listen("tcp", addr); return err }), "listen "+addr)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	d.mu.Lock()
	d.listeners[addr] = ln
	d.mu.Unlock()
	t.Cleanup(func() { ln.Close() })
}

// stop closes addr's listener: connections are refused.
func (d *vmDirector) stop(addr string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.listeners[addr].Close()
}

// ipvsadm runs ipvsadm in the director's namespace.
func (d *vmDirector) ipvsadm(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("nsenter", append([]string{"--net=" + d.path, "ipvsadm"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ipvsadm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// saved is `ipvsadm -Sn`: the whole table, one rule a line.
func (d *vmDirector) saved(t *testing.T) string { return d.ipvsadm(t, "-Sn") }

// checker returns the real health checker, probing from the namespace.
func (d *vmDirector) checker(t *testing.T) *check.Checker {
	c := check.New(check.Options{NewProbe: func(spec *model.CheckSpec) (check.Probe, error) {
		probe, err := check.NewProbe(spec)
		if err != nil || probe == nil {
			return probe, err
		}
		return func(ctx context.Context, target check.Target) (r check.Result) {
			if err := d.in(func() error { r = probe(ctx, target); return nil }); err != nil {
				r.Err = err
			}
			return r
		}, nil
	}})
	t.Cleanup(c.Close)
	return c
}

// vmNode is one controller on the director.
type vmNode struct {
	ctl   *controller.Controller
	ipvs  *countingIPVS
	dir   string // the watched description directory
	state string // the state directory (ownership record, last good)
}

func (d *vmDirector) newNode(t *testing.T, dir, state string, checker controller.Checker) *vmNode {
	t.Helper()
	k, err := ipvskernel.New(d.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	n := &vmNode{ipvs: &countingIPVS{IPVS: k}, dir: dir, state: state}
	cfg := controller.Config{
		Node: "lb1", Source: source.NewDir(dir), Engine: idleEngine{},
		IPVS:     &lvs.Programmer{IPVS: n.ipvs, StatePath: filepath.Join(state, "ipvs-owned.json")},
		LastGood: controller.NewLastGood(state),
		Interval: time.Hour, // passes run when the test says, or on health changes
		// Drift is found through /proc/net/ip_vs: the repairs below show
		// the fingerprint sees hand changes in the real kernel.
		Fingerprint: ipvsproc.Table{NetnsPath: d.path},
	}
	if checker != nil {
		cfg.Checker = checker
	}
	n.ctl, err = controller.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *vmNode) write(t *testing.T, content string) {
	t.Helper()
	vmMust(t, os.WriteFile(filepath.Join(n.dir, "cluster.yaml"), []byte(content), 0o644), "write description")
}

func (n *vmNode) reconcile(t *testing.T, fetch bool) (controller.Result, error) {
	t.Helper()
	return n.ctl.Reconcile(context.Background(), "test", fetch)
}

// run starts the loop (health changes trigger passes) until the test ends.
func (n *vmNode) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.ctl.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func vmMust(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

const vmClusterTemplate = `cluster: vmtest
nodes:
  lb1: {address: 192.0.2.1, interface: eth0}
vipGroups:
  web:
    vrid: 51
    vips: [192.0.2.100/32]
    nodes: [lb1]
services:
  http:
    vip: 192.0.2.100
    port: 80
    scheduler: wlc
    realServers:
      - {address: 198.51.100.1, port: 8080, weight: W1}
      - {address: 198.51.100.2, port: 8080, weight: 2}
  dns:
    vip: 192.0.2.100
    port: 53
    protocol: udp
    scheduler: rr
    realServers:
      - {address: 198.51.100.1, port: 5353}
`

func vmCluster(w1 int) string {
	return strings.Replace(vmClusterTemplate, "W1", fmt.Sprint(w1), 1)
}

// hasRule reports whether `ipvsadm -Sn` output holds a line with every
// field of want (in order).
func hasRule(saved string, want ...string) bool {
	for _, line := range strings.Split(saved, "\n") {
		f := strings.Fields(line)
		rest := f
		ok := true
		for _, w := range want {
			i := slices.Index(rest, w)
			if i < 0 {
				ok = false
				break
			}
			rest = rest[i+1:]
		}
		if ok && len(f) > 0 {
			return true
		}
	}
	return false
}

// TestIPVSControllerLifecycle: first apply, a pass in sync, drift repair,
// a foreign service, a broken revision, a weight change and a restart
// that adopts the table, each observed in the kernel with ipvsadm and
// the writes counted at the IPVS boundary.
func TestIPVSControllerLifecycle(t *testing.T) {
	d := newVMDirector(t)
	dir, state := t.TempDir(), t.TempDir()
	n := d.newNode(t, dir, state, nil)
	n.write(t, vmCluster(1))

	res, err := n.ctl.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Two services, three destinations.
	if !res.Applied || res.IPVSOps != 5 || n.ipvs.count() != 5 {
		t.Fatalf("first apply: %+v, writes %v; want 5 (2 services, 3 destinations)", res, n.ipvs.since(0))
	}
	saved := d.saved(t)
	for _, rule := range [][]string{
		{"-A", "-t", "192.0.2.100:80", "-s", "wlc"},
		{"-a", "-t", "192.0.2.100:80", "-r", "198.51.100.1:8080", "-m", "-w", "1"},
		{"-a", "-t", "192.0.2.100:80", "-r", "198.51.100.2:8080", "-m", "-w", "2"},
		{"-A", "-u", "192.0.2.100:53", "-s", "rr"},
		{"-a", "-u", "192.0.2.100:53", "-r", "198.51.100.1:5353", "-m", "-w", "1"},
	} {
		if !hasRule(saved, rule...) {
			t.Errorf("kernel lacks %v:\n%s", rule, saved)
		}
	}

	t.Run("in sync", func(t *testing.T) {
		for _, fetch := range []bool{true, false} {
			before := n.ipvs.count()
			res, err := n.reconcile(t, fetch)
			if err != nil || res.IPVSOps != 0 || res.Repaired != 0 || n.ipvs.count() != before {
				t.Errorf("pass (fetch=%v) in sync: %+v, %v, writes %v", fetch, res, err, n.ipvs.since(before))
			}
		}
	})

	t.Run("drift: weight changed by hand", func(t *testing.T) {
		d.ipvsadm(t, "-e", "-t", "192.0.2.100:80", "-r", "198.51.100.2:8080", "-m", "-w", "9")
		before := n.ipvs.count()
		res, err := n.reconcile(t, false)
		if err != nil {
			t.Fatal(err)
		}
		if w := n.ipvs.since(before); res.Repaired != 1 || len(w) != 1 || w[0] != "update-destination tcp/192.0.2.100:80 198.51.100.2:8080" {
			t.Errorf("repair: %+v, writes %v; want one update counted as drift", res, w)
		}
		if !hasRule(d.saved(t), "-a", "-t", "192.0.2.100:80", "-r", "198.51.100.2:8080", "-m", "-w", "2") {
			t.Errorf("weight not put back:\n%s", d.saved(t))
		}
	})

	t.Run("drift: destination deleted by hand", func(t *testing.T) {
		d.ipvsadm(t, "-d", "-u", "192.0.2.100:53", "-r", "198.51.100.1:5353")
		before := n.ipvs.count()
		res, err := n.reconcile(t, false)
		if err != nil {
			t.Fatal(err)
		}
		if w := n.ipvs.since(before); res.Repaired != 1 || len(w) != 1 || w[0] != "add-destination udp/192.0.2.100:53 198.51.100.1:5353" {
			t.Errorf("repair: %+v, writes %v; want the destination re-added, counted as drift", res, w)
		}
		if st := n.ctl.Status(); st.Drift.IPVSRepairs != 2 {
			t.Errorf("status counts %d IPVS repairs, want 2", st.Drift.IPVSRepairs)
		}
	})

	t.Run("foreign service", func(t *testing.T) {
		d.ipvsadm(t, "-A", "-t", "203.0.113.9:443", "-s", "rr")
		d.ipvsadm(t, "-a", "-t", "203.0.113.9:443", "-r", "198.51.100.7:443", "-m", "-w", "3")
		before := n.ipvs.count()
		if res, err := n.reconcile(t, true); err != nil || res.IPVSOps != 0 || n.ipvs.count() != before {
			t.Errorf("pass beside a foreign service: %+v, %v, writes %v", res, err, n.ipvs.since(before))
		}
		if !hasRule(d.saved(t), "-a", "-t", "203.0.113.9:443", "-r", "198.51.100.7:443", "-m", "-w", "3") {
			t.Errorf("foreign service touched:\n%s", d.saved(t))
		}
		if st := n.ctl.Status(); !slices.Equal(st.UnmanagedIPVS, []string{"tcp/203.0.113.9:443"}) || !st.Healthy {
			t.Errorf("status: unmanaged %v healthy %v; want the foreign service listed, node healthy", st.UnmanagedIPVS, st.Healthy)
		}
	})

	t.Run("broken revision", func(t *testing.T) {
		before, table := n.ipvs.count(), d.saved(t)
		n.write(t, "cluster: vmtest\nnodes:\n  lb1: {address: 192.0.2.1, interface: eth0\nservices: {}\n")
		if _, err := n.reconcile(t, true); err == nil {
			t.Fatal("broken revision applied")
		}
		if got := d.saved(t); got != table || n.ipvs.count() != before {
			t.Errorf("broken revision changed IPVS (writes %v):\n%s\nwas\n%s", n.ipvs.since(before), got, table)
		}
		st := n.ctl.Status()
		if st.LastError == nil || st.LastError.Stage != "load" || !strings.Contains(st.LastError.Message, "cluster.yaml:3:") {
			t.Errorf("status last error %+v, want the load error at cluster.yaml:3", st.LastError)
		}
		if n.reconcile(t, false); n.ctl.Status().Healthy {
			t.Error("node healthy while its newest revision is refused")
		}
	})

	t.Run("weight changed in the description", func(t *testing.T) {
		n.write(t, vmCluster(5))
		before := n.ipvs.count()
		res, err := n.reconcile(t, true)
		if err != nil {
			t.Fatal(err)
		}
		if w := n.ipvs.since(before); !res.Applied || len(w) != 1 || w[0] != "update-destination tcp/192.0.2.100:80 198.51.100.1:8080" {
			t.Errorf("weight change: %+v, writes %v; want exactly one update", res, w)
		}
		if !hasRule(d.saved(t), "-a", "-t", "192.0.2.100:80", "-r", "198.51.100.1:8080", "-m", "-w", "5") {
			t.Errorf("new weight not in the kernel:\n%s", d.saved(t))
		}
		if st := n.ctl.Status(); !st.Healthy {
			t.Errorf("node degraded after a good revision: %s", st.Degraded)
		}
	})

	t.Run("restart adopts the table", func(t *testing.T) {
		table := d.saved(t)
		// The old controller goes away as on SIGTERM: IPVS services stay.
		if err := n.ctl.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		m := d.newNode(t, dir, state, nil)
		res, err := m.ctl.Start(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !res.Applied || res.IPVSOps != 0 || m.ipvs.count() != 0 {
			t.Errorf("restart: %+v, writes %v; want the table adopted with no write", res, m.ipvs.since(0))
		}
		if got := d.saved(t); got != table {
			t.Errorf("restart changed IPVS:\n%s\nwas\n%s", got, table)
		}
		if st := m.ctl.Status(); !slices.Equal(st.UnmanagedIPVS, []string{"tcp/203.0.113.9:443"}) || len(st.ConflictingIPVS) != 0 {
			t.Errorf("after restart: unmanaged %v conflicting %v", st.UnmanagedIPVS, st.ConflictingIPVS)
		}
	})
}

// TestIPVSControllerHealth: the running loop takes a real server whose
// listener died out of IPVS (or to weight 0 with drain) on the checker's
// notification, and puts it back when it listens again.
func TestIPVSControllerHealth(t *testing.T) {
	d := newVMDirector(t)
	for _, b := range []string{vmBackend1, vmBackend2} {
		d.listen(t, netip.AddrPortFrom(netip.MustParseAddr(b), 8080).String())
	}
	n := d.newNode(t, t.TempDir(), t.TempDir(), d.checker(t))
	n.write(t, `cluster: vmtest
nodes:
  lb1: {address: 192.0.2.1, interface: eth0}
vipGroups:
  web:
    vrid: 51
    vips: [192.0.2.100/32]
    nodes: [lb1]
services:
  http:
    vip: 192.0.2.100
    port: 80
    check: {interval: 200ms, timeout: 1s, fall: 1, rise: 1, tcp: {}}
    realServers:
      - {address: 198.51.100.1, port: 8080}
      - {address: 198.51.100.2, port: 8080}
  drained:
    vip: 192.0.2.100
    port: 81
    drain: true
    check: {interval: 200ms, timeout: 1s, fall: 1, rise: 1, tcp: {}}
    realServers:
      - {address: 198.51.100.1, port: 8080}
      - {address: 198.51.100.2, port: 8080}
`)
	if _, err := n.ctl.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	n.run(t)
	waitKernel := func(what string, cond func(saved string) bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			saved := d.saved(t)
			if cond(saved) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s:\n%s", what, saved)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	both := func(saved string) bool {
		return hasRule(saved, "-t", "192.0.2.100:80", "-r", "198.51.100.2:8080", "-w", "1") &&
			hasRule(saved, "-t", "192.0.2.100:81", "-r", "198.51.100.2:8080", "-w", "1")
	}
	waitKernel("both servers in both services", both)

	d.stop("198.51.100.2:8080")
	waitKernel("the dead server out of http and at weight 0 in drained", func(saved string) bool {
		return !hasRule(saved, "-t", "192.0.2.100:80", "-r", "198.51.100.2:8080") &&
			hasRule(saved, "-t", "192.0.2.100:81", "-r", "198.51.100.2:8080", "-w", "0") &&
			hasRule(saved, "-t", "192.0.2.100:80", "-r", "198.51.100.1:8080", "-w", "1")
	})
	st := n.ctl.Status()
	for _, svc := range st.Services {
		rs := svc.RealServers[1]
		wantIn := svc.Name == "drained"
		if rs.Address != "198.51.100.2:8080" || rs.Health != "down" || rs.InIPVS != wantIn || rs.Weight != 0 {
			t.Errorf("status of the dead server in %s: %+v", svc.Name, rs)
		}
	}
	if st.Drift.IPVSRepairs != 0 {
		t.Errorf("a health change counted as drift: %+v", st.Drift)
	}

	d.listen(t, "198.51.100.2:8080")
	waitKernel("the server back in both services", both)
}

// BenchmarkIPVSSteadyState10k is BenchmarkSteadyState10k against the
// real kernel: one drift pass with nothing to do over 10,000 services ×
// 10 real servers programmed in IPVS. full-read reads the whole table
// every pass (one netlink request per service, ms-read-table of it);
// fingerprint trusts an unchanged /proc/net/ip_vs between full reads
// (DefaultFullCheckEvery). Under TCG the VM is many times slower than
// the host: compare the figures with each other, not with the host's.
//
//	go test -tags vmtest -exec "$PWD/test/vm/run" -run '^$' -bench IPVSSteadyState -benchtime 5x ./reconcile/controller
func BenchmarkIPVSSteadyState10k(b *testing.B) {
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil || os.Getuid() != 0 {
		b.Skip("needs root and IPVS: run in the VM")
	}
	ns, err := vmNewNetns()
	if err != nil {
		b.Fatal(err)
	}
	defer ns.Close()
	path := fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), int(ns))
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		b.Fatal(err)
	}
	lo, _ := h.LinkByName("lo")
	if err := h.LinkSetUp(lo); err != nil {
		b.Fatal(err)
	}
	h.Close()
	k, err := ipvskernel.New(path)
	if err != nil {
		b.Fatal(err)
	}
	defer k.Close()
	src := &memSource{}
	src.set(splitCluster(b, modeltest.GenerateCluster(10000, 10, 3), 2000)...)
	state := b.TempDir()
	newController := func(fp controller.Fingerprinter) (*controller.Controller, *countingIPVS) {
		counting := &countingIPVS{IPVS: k}
		ctl, err := controller.New(controller.Config{Node: "node-1", Source: src, Engine: idleEngine{},
			IPVS: &lvs.Programmer{IPVS: counting, StatePath: filepath.Join(state, "ipvs-owned.json")}, Interval: time.Hour, Fingerprint: fp})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if _, err := ctl.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		if n := counting.count(); n > 0 {
			b.Logf("initial apply: %d writes in %v", n, time.Since(start))
		}
		return ctl, counting
	}
	newController(nil) // programs the table once; later controllers adopt it

	b.Run("full-read", func(b *testing.B) {
		ctl, counting := newController(nil)
		var read time.Duration
		for b.Loop() {
			if _, err := ctl.Reconcile(context.Background(), "bench", true); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			t0 := time.Now()
			if _, err := lvs.ReadTable(k); err != nil {
				b.Fatal(err)
			}
			read += time.Since(t0)
			b.StartTimer()
		}
		if w := counting.count(); w != 0 {
			b.Fatalf("steady state made %d IPVS writes", w)
		}
		b.ReportMetric(float64(read.Microseconds())/1000/float64(b.N), "ms-read-table")
		b.ReportMetric(0, "writes/op")
	})
	b.Run("fingerprint", func(b *testing.B) {
		ctl, counting := newController(ipvsproc.Table{NetnsPath: path})
		for b.Loop() {
			if _, err := ctl.Reconcile(context.Background(), "bench", false); err != nil {
				b.Fatal(err)
			}
		}
		if w := counting.count(); w != 0 {
			b.Fatalf("steady state made %d IPVS writes", w)
		}
		b.ReportMetric(0, "writes/op")
	})
}
