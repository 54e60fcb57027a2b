package check_test

import (
	"bufio"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/lvs/check"
	"github.com/hakeeper/hakeeper/lvs/check/checktest"
	"github.com/hakeeper/hakeeper/lvs/check/checktest/hungtcp"
	"github.com/hakeeper/hakeeper/model"
)

// hungListener returns the port of a loopback listener whose connects
// hang (hungtcp).
func hungListener(t *testing.T) uint16 { return hungtcp.Listener(t).Port() }

// tcpStates counts the kernel's IPv4 TCP sockets in state (hex, as in
// /proc/net/tcp: 02 SYN_SENT, 06 TIME_WAIT) with port as their local or
// remote port.
func tcpStates(t *testing.T, state string, port uint16) int {
	t.Helper()
	n := 0
	for _, s := range tcpSockets(t) {
		if s.state == state && (s.local == port || s.remote == port) {
			n++
		}
	}
	return n
}

// connectsInFlight counts this process's sockets connecting (SYN_SENT) to
// port. It counts sockets, not lines of /proc/net/tcp: the file is not a
// snapshot but a walk of the kernel's hash table over several reads, and
// a socket the checker disconnects and connects again during the walk
// (its pooled sockets are reused from try to try) is hashed anew and can
// be listed twice, so that counting lines saw 7 connects from 4 sockets.
func connectsInFlight(t *testing.T, port uint16) int {
	t.Helper()
	connecting := map[string]bool{}
	for _, s := range tcpSockets(t) {
		if s.state == "02" && s.remote == port {
			connecting[s.inode] = true
		}
	}
	// Read after the walk, so a socket it listed is still open here unless
	// it was closed (and so no longer in flight) since.
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot list open files: %v", err)
	}
	ours := map[string]bool{}
	for _, fd := range fds {
		link, _ := os.Readlink("/proc/self/fd/" + fd.Name())
		if inode, ok := strings.CutPrefix(link, "socket:["); ok && connecting[strings.TrimSuffix(inode, "]")] {
			ours[inode] = true // a socket open twice (dup) counts once
		}
	}
	return len(ours)
}

// tcpSocket is one line of /proc/net/tcp.
type tcpSocket struct {
	state         string // hex, as in the file
	local, remote uint16 // ports
	inode         string // 0 for a socket no file owns (TIME_WAIT)
}

// tcpSockets lists the kernel's IPv4 TCP sockets of this network namespace.
func tcpSockets(t *testing.T) []tcpSocket {
	t.Helper()
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		t.Skipf("cannot read socket states: %v", err)
	}
	defer f.Close()
	port := func(addr string) uint16 {
		_, hex, _ := strings.Cut(addr, ":")
		p, _ := strconv.ParseUint(hex, 16, 16)
		return uint16(p)
	}
	var out []tcpSocket
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		// sl local_address rem_address st tx:rx tr:tm retrnsmt uid timeout inode
		fields := strings.Fields(lines.Text())
		if len(fields) < 10 || fields[0] == "sl" {
			continue
		}
		out = append(out, tcpSocket{state: fields[3], local: port(fields[1]), remote: port(fields[2]), inode: fields[9]})
	}
	return out
}

func tcpServer(port uint16, checkPort uint16, mod func(*model.CheckSpec)) model.RealServerSpec {
	s := &model.CheckSpec{Type: "tcp", Port: checkPort, Interval: 10 * time.Second, Timeout: 300 * time.Millisecond, Rise: 1, Fall: 1}
	if mod != nil {
		mod(s)
	}
	return model.RealServerSpec{Address: netip.MustParseAddr("127.0.0.1"), Port: port, Weight: 1, Check: s}
}

// TestCheckerTCPBatchBounded fires 12 tcp checks at once at a server that
// never completes a handshake, through 4 workers: the kernel never holds
// more than 4 of the checker's sockets in SYN_SENT, and every check fails
// with a timeout.
func TestCheckerTCPBatchBounded(t *testing.T) {
	const workers, servers = 4, 12
	port := hungListener(t)
	var rss []model.RealServerSpec
	for i := range servers {
		rss = append(rss, tcpServer(uint16(1000+i), port, nil))
	}
	clock := checktest.NewClock(time.Unix(1_700_000_000, 0))
	c := check.New(check.Options{Workers: workers, Clock: clock, Logger: quiet})
	defer c.Close()
	c.Update([]model.VirtualService{service(false, rss...)})
	clock.Advance(10 * time.Second) // every first check is due at once
	peak := 0
	deadline := time.Now().Add(20 * time.Second)
	for len(clock.Pending()) != servers {
		peak = max(peak, connectsInFlight(t, port))
		if time.Now().After(deadline) {
			t.Fatalf("checks did not finish: %d re-armed", len(clock.Pending()))
		}
		time.Sleep(2 * time.Millisecond)
	}
	if peak > workers || peak < 2 {
		t.Errorf("peak %d connects in flight, want between 2 and the %d-worker limit", peak, workers)
	}
	for _, st := range c.Status() {
		if st.Healthy || !strings.Contains(st.LastError, "timed out") || st.Checks != 1 {
			t.Errorf("%s: %+v, want one check that timed out", st.Server, st)
		}
	}
}

// TestCheckerTCPRetries: a refused tcp check is retried at once, and the
// attempt counts one failure.
func TestCheckerTCPRetries(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := netip.MustParseAddrPort(l.Addr().String()).Port()
	l.Close()
	clock := checktest.NewClock(time.Unix(1_700_000_000, 0))
	c := check.New(check.Options{Clock: clock, Logger: quiet})
	defer c.Close()
	c.Update([]model.VirtualService{service(false, tcpServer(closed, 0, func(s *model.CheckSpec) { s.Retries = 2; s.Fall = 2 }))})
	clock.Advance(clock.Pending()[0]) // to the check's time: its retry deadline is an interval later
	if !clock.WaitPending(1, waitLimit) {
		t.Fatal("check did not re-arm")
	}
	st := c.Status()[0]
	if st.LastTries != 3 || st.Failures != 1 || !st.Healthy || !strings.Contains(st.LastError, "connection refused") {
		t.Errorf("status %+v, want 3 tries refused counting one failure (fall 2: still up)", st)
	}
}

// TestCheckerTCPResets: on the real clock, every check's connection is
// reset, not closed, so neither end keeps a TIME_WAIT socket, also when
// the checker reuses its sockets from check to check.
func TestCheckerTCPResets(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ends := make(chan error, 100)
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			conn.SetReadDeadline(time.Now().Add(waitLimit))
			_, err = conn.Read(make([]byte, 1))
			conn.Close()
			ends <- err
		}
	}()
	port := netip.MustParseAddrPort(l.Addr().String()).Port()
	c := check.New(check.Options{Logger: quiet})
	defer c.Close()
	c.Update([]model.VirtualService{service(true, tcpServer(port, 0, func(s *model.CheckSpec) { s.Interval = 20 * time.Millisecond }))})
	for i := range 5 {
		select {
		case err := <-ends:
			if !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("connection %d ended with %v, want a reset", i, err)
			}
		case <-time.After(waitLimit):
			t.Fatalf("only %d checks reached the server", i)
		}
	}
	if n := tcpStates(t, "06", port); n != 0 {
		t.Errorf("%d TIME_WAIT sockets for the checked port", n)
	}
	if st := c.Status()[0]; !st.Healthy {
		t.Errorf("status %+v, want healthy", st)
	}
}

// TestCheckerTCPRemovedWhileConnecting: removing a server whose connect
// hangs drops the connect long before the check's timeout.
func TestCheckerTCPRemovedWhileConnecting(t *testing.T) {
	port := hungListener(t)
	c := check.New(check.Options{Logger: quiet})
	defer c.Close()
	c.Update([]model.VirtualService{service(false, tcpServer(1000, port, func(s *model.CheckSpec) {
		s.Interval, s.Timeout = 100*time.Millisecond, time.Minute
	}))})
	deadline := time.Now().Add(waitLimit)
	for connectsInFlight(t, port) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("check never started connecting")
		}
		time.Sleep(2 * time.Millisecond)
	}
	c.Update(nil)
	for connectsInFlight(t, port) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the removed server's connect was not dropped")
		}
		time.Sleep(2 * time.Millisecond)
	}
	if st := c.Status(); len(st) != 0 {
		t.Errorf("removed server still in status: %+v", st)
	}
}

// TestCheckerObserveTry: every try is observed, batched tcp checks and
// checks through an injected probe alike.
func TestCheckerObserveTry(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := netip.MustParseAddrPort(l.Addr().String()).Port()
	l.Close()
	var mu sync.Mutex
	var failed int
	observe := func(r check.Result) {
		mu.Lock()
		defer mu.Unlock()
		if !r.OK() {
			failed++
		}
	}
	clock := checktest.NewClock(time.Unix(1_700_000_000, 0))
	c := check.New(check.Options{Clock: clock, Logger: quiet, ObserveTry: observe})
	defer c.Close()
	c.Update([]model.VirtualService{service(false, tcpServer(closed, 0, func(s *model.CheckSpec) { s.Retries = 2 }))})
	clock.Advance(clock.Pending()[0])
	if !clock.WaitPending(1, waitLimit) {
		t.Fatal("check did not re-arm")
	}
	mu.Lock()
	if failed != 3 {
		t.Errorf("%d failed tries observed for a refused check with 2 retries, want 3", failed)
	}
	failed = 0
	mu.Unlock()

	h := newScript()
	a := netip.MustParseAddr("198.51.100.1")
	h.set(a, false)
	clock2 := checktest.NewClock(time.Unix(1_700_000_000, 0))
	c2 := check.New(check.Options{Clock: clock2, NewProbe: h.newProbe, Logger: quiet, ObserveTry: observe})
	defer c2.Close()
	c2.Update([]model.VirtualService{service(false, server("198.51.100.1", func(s *model.CheckSpec) { s.Retries = 1 }))})
	clock2.Advance(clock2.Pending()[0]) // to the check's time: its retry deadline is an interval later
	if !clock2.WaitPending(1, waitLimit) {
		t.Fatal("check did not re-arm")
	}
	mu.Lock()
	defer mu.Unlock()
	if failed != 2 {
		t.Errorf("%d failed tries observed through an injected probe with 1 retry, want 2", failed)
	}
}
