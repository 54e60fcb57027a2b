package check

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/hakeeper/hakeeper/model"
)

// rs parses "addr:port/weight" into a checked real server.
func rs(s string) model.RealServerSpec {
	hostport, w, _ := strings.Cut(s, "/")
	ap := netip.MustParseAddrPort(hostport)
	var weight int
	fmt.Sscan(w, &weight)
	return model.RealServerSpec{Address: ap.Addr(), Port: ap.Port(), Weight: weight, Check: &model.CheckSpec{Type: "tcp"}}
}

func unchecked(s string) model.RealServerSpec {
	r := rs(s)
	r.Check = nil
	return r
}

func servers(list ...string) []model.RealServerSpec {
	out := []model.RealServerSpec{}
	for _, s := range list {
		out = append(out, rs(s))
	}
	return out
}

// render writes servers as "addr:port/weight" for readable diffs.
func render(l []model.RealServerSpec) []string {
	out := []string{}
	for _, r := range l {
		out = append(out, fmt.Sprintf("%s/%d", netip.AddrPortFrom(r.Address, r.Port), r.Weight))
	}
	return out
}

func TestEffectiveRealServers(t *testing.T) {
	three := servers("198.51.100.1:80/1", "198.51.100.2:80/2", "198.51.100.3:80/3")
	sorry := rs("203.0.113.9:80/1")
	sorry.Check = nil
	sorryLow := rs("198.51.100.0:8080/5")
	sorryLow.Check = nil
	tests := []struct {
		desc    string
		svc     model.VirtualService
		down    []string // addr:port of failing servers; nil health when "nil"
		nilFunc bool
		want    []string
	}{
		{desc: "all healthy: unchanged",
			svc:  model.VirtualService{Quorum: 1, RealServers: three},
			want: []string{"198.51.100.1:80/1", "198.51.100.2:80/2", "198.51.100.3:80/3"}},
		{desc: "nil health func: every server up",
			svc: model.VirtualService{Quorum: 1, RealServers: three}, nilFunc: true,
			want: []string{"198.51.100.1:80/1", "198.51.100.2:80/2", "198.51.100.3:80/3"}},
		{desc: "one failing without drain: removed",
			svc:  model.VirtualService{Quorum: 1, RealServers: three},
			down: []string{"198.51.100.2:80"},
			want: []string{"198.51.100.1:80/1", "198.51.100.3:80/3"}},
		{desc: "one failing with drain: weight 0",
			svc:  model.VirtualService{Quorum: 1, Drain: true, RealServers: three},
			down: []string{"198.51.100.2:80"},
			want: []string{"198.51.100.1:80/1", "198.51.100.2:80/0", "198.51.100.3:80/3"}},
		{desc: "unchecked server is up whatever health says",
			svc:  model.VirtualService{Quorum: 1, RealServers: []model.RealServerSpec{unchecked("198.51.100.1:80/1"), rs("198.51.100.2:80/1")}},
			down: []string{"198.51.100.1:80", "198.51.100.2:80"},
			want: []string{"198.51.100.1:80/1"}},
		{desc: "same address, different ports are separate servers",
			svc:  model.VirtualService{Quorum: 1, RealServers: servers("198.51.100.1:80/1", "198.51.100.1:81/1")},
			down: []string{"198.51.100.1:81"},
			want: []string{"198.51.100.1:80/1"}},
		{desc: "all failing, no sorry server, no drain: empty",
			svc:  model.VirtualService{Quorum: 1, RealServers: three},
			down: []string{"198.51.100.1:80", "198.51.100.2:80", "198.51.100.3:80"},
			want: []string{}},
		{desc: "all failing, no sorry server, drain: all at weight 0",
			svc:  model.VirtualService{Quorum: 1, Drain: true, RealServers: three},
			down: []string{"198.51.100.1:80", "198.51.100.2:80", "198.51.100.3:80"},
			want: []string{"198.51.100.1:80/0", "198.51.100.2:80/0", "198.51.100.3:80/0"}},
		{desc: "all failing with sorry server: sorry replaces the set",
			svc:  model.VirtualService{Quorum: 1, SorryServer: &sorry, RealServers: three},
			down: []string{"198.51.100.1:80", "198.51.100.2:80", "198.51.100.3:80"},
			want: []string{"203.0.113.9:80/1"}},
		{desc: "sorry server with drain: real servers stay at weight 0, sorted with the sorry server",
			svc:  model.VirtualService{Quorum: 1, Drain: true, SorryServer: &sorryLow, RealServers: three},
			down: []string{"198.51.100.1:80", "198.51.100.2:80", "198.51.100.3:80"},
			want: []string{"198.51.100.0:8080/5", "198.51.100.1:80/0", "198.51.100.2:80/0", "198.51.100.3:80/0"}},
		{desc: "quorum lost with healthy servers left: sorry replaces them too",
			svc:  model.VirtualService{Quorum: 5, SorryServer: &sorry, RealServers: three},
			down: []string{"198.51.100.3:80"},
			want: []string{"203.0.113.9:80/1"}},
		{desc: "quorum lost with drain: healthy servers drained too",
			svc:  model.VirtualService{Quorum: 5, Drain: true, SorryServer: &sorry, RealServers: three},
			down: []string{"198.51.100.3:80"},
			want: []string{"198.51.100.1:80/0", "198.51.100.2:80/0", "198.51.100.3:80/0", "203.0.113.9:80/1"}},
		{desc: "quorum met exactly: no sorry server",
			svc:  model.VirtualService{Quorum: 5, SorryServer: &sorry, RealServers: three},
			down: []string{"198.51.100.1:80"},
			want: []string{"198.51.100.2:80/2", "198.51.100.3:80/3"}},
		{desc: "quorum lost without sorry server: remaining servers kept",
			svc:  model.VirtualService{Quorum: 5, RealServers: three},
			down: []string{"198.51.100.3:80"},
			want: []string{"198.51.100.1:80/1", "198.51.100.2:80/2"}},
		{desc: "quorum 0: sorry server never used",
			svc:  model.VirtualService{Quorum: 0, SorryServer: &sorry, RealServers: three},
			down: []string{"198.51.100.1:80", "198.51.100.2:80", "198.51.100.3:80"},
			want: []string{}},
		{desc: "healthy servers with weight 0 do not make quorum",
			svc:  model.VirtualService{Quorum: 1, SorryServer: &sorry, RealServers: servers("198.51.100.1:80/0", "198.51.100.2:80/1")},
			down: []string{"198.51.100.2:80"},
			want: []string{"203.0.113.9:80/1"}},
		{desc: "no real servers at all: sorry server",
			svc:  model.VirtualService{Quorum: 1, SorryServer: &sorry},
			want: []string{"203.0.113.9:80/1"}},
		{desc: "sorry server that is also a real server appears once, with drain",
			svc:  model.VirtualService{Quorum: 1, Drain: true, SorryServer: &model.RealServerSpec{Address: netip.MustParseAddr("198.51.100.2"), Port: 80, Weight: 7}, RealServers: three},
			down: []string{"198.51.100.1:80", "198.51.100.2:80", "198.51.100.3:80"},
			want: []string{"198.51.100.1:80/0", "198.51.100.2:80/7", "198.51.100.3:80/0"}},
		{desc: "IPv6 servers",
			svc:  model.VirtualService{Quorum: 1, Drain: true, RealServers: servers("[2001:db8::1]:443/1", "[2001:db8::2]:443/1")},
			down: []string{"[2001:db8::1]:443"},
			want: []string{"[2001:db8::1]:443/0", "[2001:db8::2]:443/1"}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			before := render(tc.svc.RealServers)
			var healthy func(model.RealServerSpec) bool
			if !tc.nilFunc {
				down := map[netip.AddrPort]bool{}
				for _, d := range tc.down {
					down[netip.MustParseAddrPort(d)] = true
				}
				healthy = func(r model.RealServerSpec) bool {
					return !down[netip.AddrPortFrom(r.Address, r.Port)]
				}
			}
			got := render(EffectiveRealServers(tc.svc, healthy))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %v\nwant %v", got, tc.want)
			}
			if after := render(tc.svc.RealServers); !reflect.DeepEqual(before, after) {
				t.Errorf("input modified: %v → %v", before, after)
			}
		})
	}
}
