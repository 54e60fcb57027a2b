package lvs_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/lvs"
	"github.com/hakeeper/hakeeper/model"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		desc         string
		kernel, want lvs.Service
	}{
		{"hashed flag stripped",
			lvs.Service{Family: lvs.FamilyIPv4, Protocol: lvs.ProtocolTCP, Address: netip.MustParseAddr("192.0.2.1"), Port: 80, Scheduler: "rr", Flags: lvs.FlagHashed | lvs.FlagSched1, Netmask: 32},
			lvs.Service{Family: lvs.FamilyIPv4, Protocol: lvs.ProtocolTCP, Address: netip.MustParseAddr("192.0.2.1"), Port: 80, Scheduler: "rr", Flags: lvs.FlagSched1}},
		{"IPv6 default netmask is 128",
			lvs.Service{Family: lvs.FamilyIPv6, Protocol: lvs.ProtocolUDP, Address: netip.MustParseAddr("2001:db8::1"), Port: 53, Scheduler: "rr", Netmask: 128},
			lvs.Service{Family: lvs.FamilyIPv6, Protocol: lvs.ProtocolUDP, Address: netip.MustParseAddr("2001:db8::1"), Port: 53, Scheduler: "rr"}},
		{"fwmark service has no address, protocol or port",
			lvs.Service{Family: lvs.FamilyIPv4, FWMark: 3, Scheduler: "wlc", Flags: lvs.FlagHashed, Netmask: 32},
			lvs.Service{Family: lvs.FamilyIPv4, FWMark: 3, Protocol: lvs.ProtocolTCP, Address: netip.MustParseAddr("0.0.0.0"), Scheduler: "wlc"}},
		{"IPv4 address in 4-in-6 form",
			lvs.Service{Family: lvs.FamilyIPv4, Protocol: lvs.ProtocolTCP, Address: netip.MustParseAddr("::ffff:192.0.2.1"), Port: 80, Scheduler: "rr"},
			lvs.Service{Family: lvs.FamilyIPv4, Protocol: lvs.ProtocolTCP, Address: netip.MustParseAddr("192.0.2.1"), Port: 80, Scheduler: "rr", Netmask: 32}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			if !tc.kernel.Equal(tc.want) {
				t.Errorf("%+v\n   not Equal to\n%+v", tc.kernel.Normalize(), tc.want.Normalize())
			}
		})
	}
	// Normalization must not hide real differences.
	a := lvs.Service{Family: lvs.FamilyIPv4, Protocol: lvs.ProtocolTCP, Address: netip.MustParseAddr("192.0.2.1"), Port: 80, Scheduler: "rr", Flags: lvs.FlagPersistent, Timeout: 60, Netmask: 24}
	for desc, b := range map[string]lvs.Service{
		"scheduler": func() lvs.Service { b := a; b.Scheduler = "wrr"; return b }(),
		"netmask":   func() lvs.Service { b := a; b.Netmask = 32; return b }(),
		"timeout":   func() lvs.Service { b := a; b.Timeout = 61; return b }(),
		"flags":     func() lvs.Service { b := a; b.Flags |= lvs.FlagSched2; return b }(),
	} {
		if a.Equal(b) {
			t.Errorf("services differing in %s compare Equal", desc)
		}
	}

	kernelDest := lvs.Destination{Address: netip.MustParseAddr("::ffff:198.51.100.1"), Port: 80, Forwarding: lvs.ForwardDirect | 0x100, Weight: 3}
	wantDest := lvs.Destination{Address: netip.MustParseAddr("198.51.100.1"), Port: 80, Forwarding: lvs.ForwardDirect, Weight: 3}
	if !kernelDest.Equal(wantDest) {
		t.Errorf("destination %+v not Equal to %+v after normalization", kernelDest.Normalize(), wantDest)
	}
	if wantDest.Equal(lvs.Destination{Address: wantDest.Address, Port: 80, Forwarding: lvs.ForwardNAT, Weight: 3}) {
		t.Error("destinations differing in forwarding compare Equal")
	}
}

func TestServiceKeyRoundTrip(t *testing.T) {
	for _, s := range []string{"tcp/192.0.2.10:80", "udp/[2001:db8::53]:53", "sctp/203.0.113.1:3868", "fwmark/ipv4/7", "fwmark/ipv6/4294967295", "proto50/192.0.2.1:0"} {
		k, err := lvs.ParseServiceKey(s)
		if err != nil {
			t.Errorf("ParseServiceKey(%q): %v", s, err)
			continue
		}
		if k.String() != s {
			t.Errorf("ParseServiceKey(%q).String() = %q", s, k.String())
		}
	}
	for _, s := range []string{"", "tcp", "icmp/192.0.2.1:1", "tcp/192.0.2.1", "fwmark/ipv5/1", "fwmark/ipv4/0", "fwmark/ipv4/x"} {
		if _, err := lvs.ParseServiceKey(s); err == nil {
			t.Errorf("ParseServiceKey(%q) accepted", s)
		}
	}
}

func TestFromModel(t *testing.T) {
	rs := func(addr string, port uint16, weight int) model.RealServerSpec {
		return model.RealServerSpec{Address: netip.MustParseAddr(addr), Port: port, Weight: weight}
	}
	tests := []struct {
		desc      string
		vs        model.VirtualService
		wantSvc   lvs.Service
		wantDests []lvs.Destination
	}{
		{desc: "tcp nat, real server port defaults to the service's",
			vs: model.VirtualService{Family: model.IPv4, Protocol: model.TCP, Address: netip.MustParseAddr("192.0.2.10"), Port: 80,
				Scheduler: "wlc", Forwarding: model.NAT, RealServers: []model.RealServerSpec{rs("198.51.100.1", 0, 1), rs("198.51.100.2", 8080, 3)}},
			wantSvc: lvs.Service{Family: lvs.FamilyIPv4, Protocol: lvs.ProtocolTCP, Address: netip.MustParseAddr("192.0.2.10"), Port: 80, Scheduler: "wlc", Netmask: 32},
			wantDests: []lvs.Destination{
				{Address: netip.MustParseAddr("198.51.100.1"), Port: 80, Forwarding: lvs.ForwardNAT, Weight: 1},
				{Address: netip.MustParseAddr("198.51.100.2"), Port: 8080, Forwarding: lvs.ForwardNAT, Weight: 3}}},
		{desc: "udp IPv6 sh with flags, dr, persistence rounded up to whole seconds",
			vs: model.VirtualService{Family: model.IPv6, Protocol: model.UDP, Address: netip.MustParseAddr("2001:db8::53"), Port: 53,
				Scheduler: "sh", SchedulerFlags: []string{"sh-fallback", "sh-port"}, Forwarding: model.DR,
				Persistence: 1500 * time.Millisecond, PersistenceMask: 64,
				RealServers: []model.RealServerSpec{{Address: netip.MustParseAddr("2001:db8:1::1"), Port: 53, Weight: 2, UpperThreshold: 50, LowerThreshold: 5}}},
			wantSvc: lvs.Service{Family: lvs.FamilyIPv6, Protocol: lvs.ProtocolUDP, Address: netip.MustParseAddr("2001:db8::53"), Port: 53,
				Scheduler: "sh", Flags: lvs.FlagSched1 | lvs.FlagSched2 | lvs.FlagPersistent, Timeout: 2, Netmask: 64},
			wantDests: []lvs.Destination{{Address: netip.MustParseAddr("2001:db8:1::1"), Port: 53, Forwarding: lvs.ForwardDirect, Weight: 2, UpperThreshold: 50, LowerThreshold: 5}}},
		{desc: "fwmark tunnel mh, real server port stays zero, weight clamped",
			vs: model.VirtualService{Family: model.IPv4, FWMark: 9, Scheduler: "mh", SchedulerFlags: []string{"mh-port"}, Forwarding: model.Tunnel,
				RealServers: []model.RealServerSpec{rs("198.51.100.9", 0, 100000), rs("198.51.100.10", 0, -1)}},
			wantSvc: lvs.Service{Family: lvs.FamilyIPv4, FWMark: 9, Scheduler: "mh", Flags: lvs.FlagSched2, Netmask: 32},
			wantDests: []lvs.Destination{
				{Address: netip.MustParseAddr("198.51.100.9"), Forwarding: lvs.ForwardTunnel, Weight: lvs.MaxWeight},
				{Address: netip.MustParseAddr("198.51.100.10"), Forwarding: lvs.ForwardTunnel, Weight: 0}}},
		{desc: "sctp, persistence mask 24",
			vs: model.VirtualService{Family: model.IPv4, Protocol: model.SCTP, Address: netip.MustParseAddr("203.0.113.5"), Port: 3868,
				Scheduler: "rr", Forwarding: model.NAT, Persistence: time.Minute, PersistenceMask: 24},
			wantSvc:   lvs.Service{Family: lvs.FamilyIPv4, Protocol: lvs.ProtocolSCTP, Address: netip.MustParseAddr("203.0.113.5"), Port: 3868, Scheduler: "rr", Flags: lvs.FlagPersistent, Timeout: 60, Netmask: 24},
			wantDests: []lvs.Destination{}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			svc, dests := lvs.FromModel(tc.vs)
			if svc != tc.wantSvc {
				t.Errorf("service\n got %+v\nwant %+v", svc, tc.wantSvc)
			}
			if len(dests) != len(tc.wantDests) {
				t.Fatalf("destinations %+v, want %+v", dests, tc.wantDests)
			}
			for i := range dests {
				if dests[i] != tc.wantDests[i] {
					t.Errorf("destination %d\n got %+v\nwant %+v", i, dests[i], tc.wantDests[i])
				}
			}
		})
	}
}
