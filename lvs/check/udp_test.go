package check

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/model"
)

// udpServer answers each datagram with its replies, one datagram each
// in order (nothing when there are none), and records the payloads it got.
type udpServer struct {
	conn    net.PacketConn
	mu      sync.Mutex
	got     []string
	replies []string
}

func newUDPServer(t *testing.T, replies ...string) *udpServer {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &udpServer{conn: c, replies: replies}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.got = append(s.got, string(buf[:n]))
			s.mu.Unlock()
			for _, r := range s.replies {
				c.WriteTo([]byte(r), from)
			}
		}
	}()
	return s
}

func (s *udpServer) payloads() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

// udpSpec is a check with a short timeout, for outcomes that take it:
// silence. A check whose outcome is a reply gets replyTimeout instead.
func udpSpec(u model.UDPCheck) *model.CheckSpec {
	return &model.CheckSpec{Type: "udp", Timeout: 300 * time.Millisecond, UDP: &u}
}

// replyTimeout is the timeout of a check decided by a reply from the
// test's server: the check returns as soon as the reply comes, and a
// loaded machine may be slow to schedule the server's goroutine.
const replyTimeout = 5 * time.Second

func TestUDPCheck(t *testing.T) {
	echo := newUDPServer(t, "PONG ready")
	silent := newUDPServer(t)
	// A stray datagram first (a late answer to an earlier check, say),
	// then the real one.
	strayFirst := newUDPServer(t, "STRAY", "PONG ready")
	tests := []struct {
		desc    string
		server  *udpServer // nil: a closed port
		check   model.UDPCheck
		wantErr string
	}{
		{desc: "expected reply passes", server: echo, check: model.UDPCheck{Payload: "PING", Expect: "PONG"}},
		{desc: "unexpected reply fails", server: echo, check: model.UDPCheck{Payload: "PING", Expect: "HELLO"}, wantErr: `reply "PONG ready" does not contain "HELLO"`},
		{desc: "expected reply after another passes", server: strayFirst, check: model.UDPCheck{Payload: "PING", Expect: "PONG"}},
		{desc: "expect with a silent server fails", server: silent, check: model.UDPCheck{Payload: "PING", Expect: "PONG"}, wantErr: "no reply"},
		{desc: "require reply with a reply passes", server: echo, check: model.UDPCheck{Payload: "PING", RequireReply: true}},
		{desc: "require reply with a silent server fails", server: silent, check: model.UDPCheck{Payload: "PING", RequireReply: true}, wantErr: "no reply"},
		{desc: "silence without ICMP passes", server: silent, check: model.UDPCheck{Payload: "PING"}},
		{desc: "a reply passes without waiting", server: echo, check: model.UDPCheck{Payload: "PING"}},
		{desc: "port unreachable fails", check: model.UDPCheck{Payload: "PING"}, wantErr: "port unreachable"},
		{desc: "port unreachable fails with expect", check: model.UDPCheck{Payload: "PING", Expect: "PONG"}, wantErr: "port unreachable"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			// A failing expect check waits out its timeout.
			t.Parallel()
			var target Target
			if tc.server != nil {
				target = targetOf(t, tc.server.conn.LocalAddr())
			} else {
				target = closedUDPPort(t)
			}
			spec := udpSpec(tc.check)
			if tc.server == echo || tc.server == strayFirst {
				spec.Timeout = replyTimeout
			}
			r := probeOnce(t, spec, target)
			if tc.wantErr == "" {
				wantPass(t, r)
			} else {
				wantFail(t, r, tc.wantErr)
			}
		})
	}
	t.Run("server receives the payload", func(t *testing.T) {
		s := newUDPServer(t, "ok")
		spec := udpSpec(model.UDPCheck{Payload: "hello backend", RequireReply: true})
		spec.Timeout = replyTimeout
		wantPass(t, probeOnce(t, spec, targetOf(t, s.conn.LocalAddr())))
		if got := s.payloads(); len(got) != 1 || got[0] != "hello backend" {
			t.Errorf("server got %q, want one %q", got, "hello backend")
		}
	})
	t.Run("reply returns before the timeout", func(t *testing.T) {
		spec := udpSpec(model.UDPCheck{Payload: "PING"})
		spec.Timeout = replyTimeout
		took := elapsed(func() { wantPass(t, probeOnce(t, spec, targetOf(t, echo.conn.LocalAddr()))) })
		if took > 2*time.Second {
			t.Errorf("a replying server took %v to pass; the check waited for the timeout", took)
		}
	})
}
