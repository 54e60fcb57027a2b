package check

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/hakeeper/hakeeper/model"
)

// dnsServer is a tiny authoritative responder for the tests. By name:
// www.example. answers NOERROR with an A record, broken.example. SERVFAIL,
// wrongid.example. answers only with a wrong ID, late.example. sends a
// wrong-ID answer then the right one; anything else is NXDOMAIN.
type dnsServer struct {
	conn net.PacketConn
	mu   sync.Mutex
	seen []dnsmessage.Question
}

func newDNSServer(t *testing.T) *dnsServer {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &dnsServer{conn: c}
	t.Cleanup(func() { c.Close() })
	go s.serve()
	return s
}

func (s *dnsServer) serve() {
	buf := make([]byte, 512)
	for {
		n, from, err := s.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		var p dnsmessage.Parser
		h, err := p.Start(buf[:n])
		if err != nil {
			continue
		}
		q, err := p.Question()
		if err != nil {
			continue
		}
		s.mu.Lock()
		s.seen = append(s.seen, q)
		s.mu.Unlock()
		rcode := dnsmessage.RCodeNameError
		withA := false
		switch strings.ToLower(q.Name.String()) {
		case "www.example.":
			rcode, withA = dnsmessage.RCodeSuccess, q.Type == dnsmessage.TypeA
		case "broken.example.":
			rcode = dnsmessage.RCodeServerFailure
		case "wrongid.example.":
			s.conn.WriteTo(answer(h.ID+1, q, dnsmessage.RCodeSuccess, true), from)
			continue
		case "late.example.":
			s.conn.WriteTo(answer(h.ID+1, q, dnsmessage.RCodeServerFailure, false), from)
			rcode = dnsmessage.RCodeSuccess
		}
		s.conn.WriteTo(answer(h.ID, q, rcode, withA), from)
	}
}

func answer(id uint16, q dnsmessage.Question, rcode dnsmessage.RCode, withA bool) []byte {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, Response: true, Authoritative: true, RCode: rcode})
	b.StartQuestions()
	b.Question(q)
	if withA {
		b.StartAnswers()
		b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.AResource{A: [4]byte{192, 0, 2, 1}})
	}
	msg, _ := b.Finish()
	return msg
}

func (s *dnsServer) questions() []dnsmessage.Question {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]dnsmessage.Question(nil), s.seen...)
}

func dnsSpec(name, typ string) *model.CheckSpec {
	return &model.CheckSpec{Type: "dns", Timeout: 300 * time.Millisecond, DNS: &model.DNSCheck{Name: name, Type: typ}}
}

func TestDNSCheck(t *testing.T) {
	srv := newDNSServer(t)
	target := targetOf(t, srv.conn.LocalAddr())
	tests := []struct {
		desc      string
		name, typ string
		wantErr   string
		timesOut  bool // the outcome is the timeout; others come with a reply
	}{
		{desc: "NOERROR with an answer passes", name: "www.example", typ: "A"},
		{desc: "default type is A and a trailing dot is fine", name: "www.example."},
		{desc: "NOERROR without answers passes", name: "www.example", typ: "aaaa"},
		{desc: "NXDOMAIN fails", name: "missing.example", wantErr: "NameError"},
		{desc: "SERVFAIL fails", name: "broken.example", wantErr: "ServerFailure"},
		{desc: "a response with another ID is ignored", name: "wrongid.example", wantErr: "no matching DNS response", timesOut: true},
		{desc: "the matching response after a stray one passes", name: "late.example"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			spec := dnsSpec(tc.name, tc.typ)
			if !tc.timesOut {
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
	t.Run("server sees the configured question", func(t *testing.T) {
		before := len(srv.questions())
		spec := dnsSpec("www.example", "AAAA")
		spec.Timeout = replyTimeout
		probeOnce(t, spec, target)
		qs := srv.questions()[before:]
		if len(qs) != 1 || qs[0].Name.String() != "www.example." || qs[0].Type != dnsmessage.TypeAAAA || qs[0].Class != dnsmessage.ClassINET {
			t.Errorf("server saw %v, want one www.example. AAAA IN", qs)
		}
	})
	t.Run("port unreachable", func(t *testing.T) {
		wantFail(t, probeOnce(t, dnsSpec("www.example", "A"), closedUDPPort(t)), "port unreachable")
	})
	t.Run("bad type and name are refused up front", func(t *testing.T) {
		for _, spec := range []*model.CheckSpec{dnsSpec("www.example", "BOGUS"), dnsSpec("", "A"), {Type: "dns"}} {
			if _, err := NewProbe(spec); err == nil {
				t.Errorf("NewProbe(%+v) accepted it", spec.DNS)
			}
		}
	})
}
