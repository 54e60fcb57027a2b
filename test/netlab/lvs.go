package netlab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hakeeper/hakeeper/lvs"
	"github.com/hakeeper/hakeeper/lvs/ipvskernel"
)

// The LVS lab: a client, two directors and real servers on one segment,
// 192.0.2.0/24. The LVS-DR end-to-end tests (cmd/hakeeper) and `hakeeper
// demo --lvs` build it; both run `hakeeper run` on the directors and
// the real servers from one description (LVSDescription).
const (
	LVSIface = "eth0"
	// LVSClients is how many source addresses the client has: requests
	// from each count as a client of their own (persistence keys on the
	// source address).
	LVSClients = 8
)

// The lab's fixed addresses.
var (
	// VIPDR serves HTTP on port 80 by direct routing, VIPTun by IPIP
	// tunnelling; VIPMark carries the FTP-like pair of ports (21 control,
	// 10000 data) that one fwmark service balances with persistence.
	VIPDR   = netip.MustParseAddr("192.0.2.100")
	VIPTun  = netip.MustParseAddr("192.0.2.101")
	VIPMark = netip.MustParseAddr("192.0.2.102")
	// MarkPorts are the control and data ports under the fwmark.
	MarkPorts = [2]uint16{21, 10000}
)

// LVS is the LVS lab's segment and its roles.
type LVS struct {
	*Lab
	Client      *Node
	Directors   []*Node // director1, director2
	RealServers []*Node // web1, web2, ...
	// ClientAddrs are the client's source addresses, the first its own.
	ClientAddrs []netip.Addr
	// Names maps each node to its name in the description.
	Names map[*Node]string
}

// NewLVS builds the lab: ID-client, ID-director1..2, ID-web1..N. On
// error, Close removes whatever was created.
func NewLVS(id string, realServers int) (*LVS, error) {
	l, err := New(id)
	x := &LVS{Lab: l, Names: map[*Node]string{}}
	if err != nil {
		return x, err
	}
	add := func(name string, host byte, extra ...netip.Prefix) (*Node, error) {
		addrs := append([]netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 0, 2, host}), 24)}, extra...)
		nd, err := l.AddNode(NodeSpec{Suffix: name, Iface: LVSIface, MAC: net.HardwareAddr{0x02, 0x00, 0x5e, 0x1b, 0x00, host}, Addrs: addrs})
		if err == nil {
			x.Names[nd] = name
		}
		return nd, err
	}
	var extra []netip.Prefix
	for i := range LVSClients {
		a := netip.AddrFrom4([4]byte{192, 0, 2, byte(50 + i)})
		x.ClientAddrs = append(x.ClientAddrs, a)
		if i > 0 {
			extra = append(extra, netip.PrefixFrom(a, 24))
		}
	}
	if x.Client, err = add("client", 50, extra...); err != nil {
		return x, err
	}
	for i := 1; i <= 2; i++ {
		nd, err := add(fmt.Sprintf("director%d", i), byte(i))
		if err != nil {
			return x, err
		}
		x.Directors = append(x.Directors, nd)
	}
	for i := 1; i <= realServers; i++ {
		nd, err := add(fmt.Sprintf("web%d", i), byte(20+i))
		if err != nil {
			return x, err
		}
		x.RealServers = append(x.RealServers, nd)
	}
	return x, nil
}

// LVSConfig is what LVSDescription varies.
type LVSConfig struct {
	// RealServers are the web nodes (1-based indexes) the services name.
	RealServers []int
	// Weights overrides a real server's weight in the DR service.
	Weights map[int]int
	// Advert is the VRRP advertisement interval.
	Advert time.Duration
	// CheckInterval is the health checks' interval (and timeout); two
	// failures in a row take a server out, one pass brings it back.
	CheckInterval time.Duration
}

// LVSDescription is the whole cluster in one description: the directors
// move the three VIPs (preferring director1) and program a DR, a TUN
// and a fwmark service whose real servers are the web nodes, which run
// hakeeper too for their real-server role.
func LVSDescription(c LVSConfig) string {
	var b strings.Builder
	b.WriteString("cluster: lvs-lab\nnodes:\n")
	for i := 1; i <= 2; i++ {
		fmt.Fprintf(&b, "  director%d:\n    address: 192.0.2.%d\n    interface: %s\n", i, i, LVSIface)
	}
	for _, i := range c.RealServers {
		fmt.Fprintf(&b, "  web%d:\n    address: 192.0.2.%d\n", i, 20+i)
	}
	fmt.Fprintf(&b, `vipGroups:
  www:
    vrid: 10
    vips: [%s/32, %s/32, %s/32]
    nodes: [director1, director2]
    advertInterval: %s
`, VIPDR, VIPTun, VIPMark, c.Advert)
	// fall 2: one slow answer on a loaded (or emulated) machine must not
	// take a healthy server out.
	check := fmt.Sprintf("    check:\n      interval: %s\n      timeout: %s\n      fall: 2\n      rise: 1\n", c.CheckInterval, c.CheckInterval)
	servers := func(weights map[int]int) string {
		var s strings.Builder
		s.WriteString("    realServers:\n")
		for _, i := range c.RealServers {
			fmt.Fprintf(&s, "      - node: web%d\n", i)
			if w, ok := weights[i]; ok {
				fmt.Fprintf(&s, "        weight: %d\n", w)
			}
		}
		return s.String()
	}
	b.WriteString("services:\n")
	fmt.Fprintf(&b, "  www:\n    vip: %s\n    port: 80\n    protocol: tcp\n    forwarding: dr\n    scheduler: rr\n%s      http: {}\n%s", VIPDR, check, servers(c.Weights))
	fmt.Fprintf(&b, "  tun:\n    vip: %s\n    port: 80\n    protocol: tcp\n    forwarding: tun\n    scheduler: rr\n%s      tcp: {}\n%s", VIPTun, check, servers(nil))
	fmt.Fprintf(&b, `  ftp:
    fwmark: 21
    group: www
    match:
      - protocol: tcp
        address: %s
        ports: [%d, %d]
    forwarding: dr
    scheduler: rr
    persistence:
      timeout: 600s
%s      port: %d
      tcp: {}
%s`, VIPMark, MarkPorts[0], MarkPorts[1], check, MarkPorts[0], servers(nil))
	return b.String()
}

// Listen opens a TCP listener inside the node's namespace.
func (n *Node) Listen(addr string) (net.Listener, error) {
	var l net.Listener
	err := InNamespace(n.Name, func() error {
		var err error
		l, err = net.Listen("tcp", addr)
		return err
	})
	return l, err
}

// Dial connects from src in the node's namespace to dst over TCP. Only
// the socket is created inside the namespace; the connection is made
// from whatever thread the caller runs on.
func (n *Node) Dial(ctx context.Context, src netip.Addr, dst netip.AddrPort) (net.Conn, error) {
	var fd int
	err := InNamespace(n.Name, func() error {
		var err error
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("socket in %s: %w", n.Name, err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: src.As4()}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind %s: %w", src, err)
	}
	if err := unix.Connect(fd, &unix.SockaddrInet4{Addr: dst.Addr().As4(), Port: int(dst.Port())}); err != nil && err != unix.EINPROGRESS {
		unix.Close(fd)
		return nil, fmt.Errorf("connect %s: %w", dst, err)
	}
	f := os.NewFile(uintptr(fd), "tcp")
	c, err := net.FileConn(f)
	f.Close() // c holds a duplicate
	if err != nil {
		return nil, err
	}
	// Wait for the connection: writable, then SO_ERROR says how it went.
	if d, ok := ctx.Deadline(); ok {
		c.SetWriteDeadline(d)
	}
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		c.Close()
		return nil, err
	}
	// The state is read on every call, the first included: an edge that
	// came before the wait began is not waited for again.
	var soErr error
	werr := raw.Write(func(fd uintptr) bool {
		v, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
		switch {
		case err != nil:
			soErr = err
		case v != 0:
			soErr = unix.Errno(v)
		default:
			_, err := unix.Getpeername(int(fd))
			if err == unix.ENOTCONN {
				return false // still connecting
			}
			soErr = err
		}
		return true
	})
	c.SetWriteDeadline(time.Time{})
	if err := errors.Join(werr, soErr); err != nil {
		c.Close()
		return nil, fmt.Errorf("connect %s from %s: %w", dst, src, err)
	}
	return c, nil
}

// Ask sends one HTTP GET on a connection of its own from src in the node
// to dst and returns the answer's body, trimmed: a backend's name.
func (n *Node) Ask(ctx context.Context, src netip.Addr, dst netip.AddrPort) (string, error) {
	tr := &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return n.Dial(ctx, src, dst)
		},
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+dst.String()+"/", nil)
	if err != nil {
		return "", err
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %s", dst, resp.Status)
	}
	return strings.TrimSpace(string(b)), err
}

// Backend is a small HTTP server in a real server's namespace answering
// every request with its name, on each of its ports, on every address
// (the real server's own, which the health checks use, and the VIPs the
// real-server role adds).
type Backend struct {
	Name  string
	Node  *Node
	Ports []uint16
	srv   *http.Server
	done  sync.WaitGroup
}

// StartBackend starts a backend named name in node n.
func StartBackend(n *Node, name string, ports ...uint16) (*Backend, error) {
	b := &Backend{Name: name, Node: n, Ports: ports}
	b.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintln(w, name)
		}),
		ReadHeaderTimeout: time.Minute,
	}
	var ls []net.Listener
	for _, p := range ports {
		l, err := n.Listen(fmt.Sprintf(":%d", p))
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			return nil, fmt.Errorf("%s: listen on %d: %w", n.Name, p, err)
		}
		ls = append(ls, l)
	}
	for _, l := range ls {
		b.done.Add(1)
		go func() {
			defer b.done.Done()
			b.srv.Serve(l)
		}()
	}
	return b, nil
}

// Stop closes the backend's listeners and connections: new connections
// are refused, as when the service on a real server dies.
func (b *Backend) Stop() {
	b.srv.Close()
	b.done.Wait()
}

// Result is one request of a Traffic.
type Result struct {
	Start, End time.Time
	// Answer is the backend's name ("" on error).
	Answer string
	Err    error
}

// Traffic sends requests from the client to a VIP one after the other,
// each on a new connection (so each is scheduled afresh), and keeps the
// results.
type Traffic struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	results []Result
}

// StartTraffic starts requests from src in node n to dst, a new one
// every pause after the last ended, each bounded by timeout.
func StartTraffic(n *Node, src netip.Addr, dst netip.AddrPort, pause, timeout time.Duration) *Traffic {
	ctx, cancel := context.WithCancel(context.Background())
	t := &Traffic{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(t.done)
		for ctx.Err() == nil {
			r := Result{Start: time.Now()}
			rctx, rcancel := context.WithTimeout(ctx, timeout)
			r.Answer, r.Err = n.Ask(rctx, src, dst)
			rcancel()
			r.End = time.Now()
			if ctx.Err() != nil {
				return // cut short by Stop: not the service's doing
			}
			t.mu.Lock()
			t.results = append(t.results, r)
			t.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(pause):
			}
		}
	}()
	return t
}

// Stop ends the traffic and returns every result.
func (t *Traffic) Stop() []Result {
	t.cancel()
	<-t.done
	return t.Results()
}

// Results returns the results so far.
func (t *Traffic) Results() []Result {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.results)
}

// WaitAnswer waits until a request that started at or after since was
// answered by one of names (any backend when names is empty), and
// returns it.
func (t *Traffic) WaitAnswer(ctx context.Context, since time.Time, timeout time.Duration, names ...string) (Result, error) {
	var got Result
	err := Wait(ctx, timeout, 20*time.Millisecond, func() (bool, error) {
		for _, r := range t.Results() {
			if !r.Start.Before(since) && r.Err == nil && (len(names) == 0 || slices.Contains(names, r.Answer)) {
				got = r
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		err = fmt.Errorf("no request since %s answered by %v: %w", since.Format("15:04:05.000"), names, err)
	}
	return got, err
}

// Gap is the client-visible interruption between from and to: the
// longest time without an answer, counted from the last answer before
// from (requests run one at a time, so answers come in order); 0 without
// two answers to measure between. Callers pass an answer's End as to.
func Gap(results []Result, from, to time.Time) time.Duration {
	var prev time.Time
	var gap time.Duration
	for _, r := range results {
		switch {
		case r.Err != nil:
		case r.End.Before(from):
			prev = r.End
		case r.End.After(to):
			return gap
		default:
			if !prev.IsZero() {
				gap = max(gap, r.End.Sub(prev))
			}
			prev = r.End
		}
	}
	return gap
}

// IPVS is the node's IPVS table: each service with its destinations.
type IPVS map[lvs.ServiceKey][]lvs.Destination

// ReadIPVS reads the IPVS table of the node's namespace.
func (n *Node) ReadIPVS() (IPVS, error) {
	k, err := ipvskernel.New("/run/netns/" + n.Name)
	if err != nil {
		return nil, err
	}
	defer k.Close()
	svcs, err := k.Services()
	if err != nil {
		return nil, err
	}
	out := IPVS{}
	for _, s := range svcs {
		d, err := k.Destinations(s)
		if err != nil {
			return nil, err
		}
		out[s.Key()] = d
	}
	return out, nil
}

// Weights maps each destination address of the service on addr:port
// (port 0: the fwmark service mark) to its weight.
func (t IPVS) Weights(addr netip.Addr, port uint16, mark uint32) map[netip.Addr]uint32 {
	for k, ds := range t {
		if mark != 0 && k.FWMark == mark || mark == 0 && k.Address == addr && k.Port == port {
			out := map[netip.Addr]uint32{}
			for _, d := range ds {
				out[d.Address] = d.Weight
			}
			return out
		}
	}
	return nil
}
