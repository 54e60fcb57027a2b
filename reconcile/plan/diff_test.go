package plan

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/model"
)

// line is a compact, comparable form of a change for table tests:
// "~ vrrp-instance web vrid 51 on eth0 (ipv4): priority 200→150".
func line(c Change) string {
	var b strings.Builder
	b.WriteString(c.Action.Symbol() + " " + string(c.Kind) + " " + c.Group + " " + c.Name)
	if c.Action == Update {
		for i, f := range c.Fields {
			if i == 0 {
				b.WriteString(":")
			}
			b.WriteString(" " + f.Name + " " + f.Old + "→" + f.New)
		}
	}
	return b.String()
}

func lines(p *Plan) []string {
	out := []string{}
	for _, c := range p.Changes {
		out = append(out, line(c))
	}
	return out
}

func TestDiff(t *testing.T) {
	tests := []struct {
		desc string
		// edit changes the desired state (the live state is the sample).
		edit func(d *model.NodeState, l *Live)
		want []string
		sum  Summary
	}{
		{
			desc: "identical",
			edit: func(d *model.NodeState, l *Live) {},
			want: []string{},
		},
		{
			desc: "live in another order is still in sync",
			edit: func(d *model.NodeState, l *Live) {
				l.Instances[0], l.Instances[1] = l.Instances[1], l.Instances[0]
				l.Services[0], l.Services[1] = l.Services[1], l.Services[0]
				rs := l.Services[1].RealServers
				rs[0], rs[1] = rs[1], rs[0]
			},
			want: []string{},
		},
		{
			desc: "renamed group is an update of the name only",
			edit: func(d *model.NodeState, l *Live) { d.Instances[1].Name = "www" },
			want: []string{"~ vrrp-instance www vrid 51 on eth0 (ipv4): name web→www"},
			sum:  Summary{Change: 1},
		},
		{
			desc: "priority and preference change",
			edit: func(d *model.NodeState, l *Live) {
				d.Instances[1].Priority = 150
				d.Instances[1].Preference = []model.NodePriority{{Node: "lb2", Priority: 200}, {Node: "lb1", Priority: 150}}
			},
			want: []string{"~ vrrp-instance web vrid 51 on eth0 (ipv4): priority 200→150 preference lb1 (200), lb2 (100)→lb2 (200), lb1 (150)"},
			sum:  Summary{Change: 1},
		},
		{
			desc: "VIP added to and removed from a running instance",
			edit: func(d *model.NodeState, l *Live) {
				d.Instances[1].VIPs = []model.VIPSpec{{Prefix: netip.MustParsePrefix("192.0.2.11/24"), Device: "eth0"}}
			},
			want: []string{"+ vip web 192.0.2.11/24 on eth0", "- vip web 192.0.2.10/24 on eth0"},
			sum:  Summary{Add: 1, Destroy: 1},
		},
		{
			desc: "VRID change is a new instance (the wire identity changed)",
			edit: func(d *model.NodeState, l *Live) { d.Instances[0].VRID = 53 },
			want: []string{"+ vrrp-instance api vrid 53 on eth0 (ipv4)", "- vrrp-instance api vrid 52 on eth0 (ipv4)"},
			sum:  Summary{Add: 1, Destroy: 1},
		},
		{
			desc: "instance no longer desired",
			edit: func(d *model.NodeState, l *Live) { d.Instances = d.Instances[1:] },
			want: []string{"- vrrp-instance api vrid 52 on eth0 (ipv4)"},
			sum:  Summary{Destroy: 1},
		},
		{
			desc: "notify hook argv changed",
			edit: func(d *model.NodeState, l *Live) {
				d.Instances[1].Notify.Master = model.Command{Argv: []string{"/usr/local/bin/notify", "MASTER"}}
			},
			want: []string{"~ vrrp-instance web vrid 51 on eth0 (ipv4): notify.master /usr/local/bin/notify master→/usr/local/bin/notify MASTER"},
			sum:  Summary{Change: 1},
		},
		{
			desc: "tracked check command and interval changed",
			edit: func(d *model.NodeState, l *Live) {
				d.Checks[0].Command = model.Command{Argv: []string{"/usr/bin/pgrep", "-x", "openresty"}}
				d.Checks[0].Interval = 5 * time.Second
			},
			want: []string{"~ tracked-check nginx nginx: command /usr/bin/pgrep -x nginx→/usr/bin/pgrep -x openresty interval 2s→5s"},
			sum:  Summary{Change: 1},
		},
		{
			desc: "sync group notify hook changed",
			edit: func(d *model.NodeState, l *Live) {
				d.SyncGroups[0].Notify.Master = model.Command{Shell: "logger edge MASTER"}
			},
			want: []string{"~ sync-group edge edge: notify.master logger edge master→logger edge MASTER"},
			sum:  Summary{Change: 1},
		},
		{
			desc: "tracked check added, sync group gone",
			edit: func(d *model.NodeState, l *Live) {
				d.Checks = append(d.Checks, model.TrackCheckSpec{Name: "pgbouncer", Command: model.Command{Shell: "pgrep pgbouncer"}, Interval: time.Second, Timeout: time.Second, Rise: 1, Fall: 1})
				d.SyncGroups = nil
			},
			want: []string{"- sync-group edge edge", "+ tracked-check pgbouncer pgbouncer"},
			sum:  Summary{Add: 1, Destroy: 1},
		},
		{
			desc: "real server weight, added and removed servers",
			edit: func(d *model.NodeState, l *Live) {
				rs := d.Services[0].RealServers
				rs[1].Weight = 5
				rs[0] = model.RealServerSpec{Address: netip.MustParseAddr("198.51.100.13"), Port: 8080, Weight: 1}
			},
			want: []string{
				"+ real-server web-http 198.51.100.13:8080",
				"~ real-server web-http 198.51.100.12:8080: weight 2→5",
				"- real-server web-http 198.51.100.11:8080",
			},
			sum: Summary{Add: 1, Change: 1, Destroy: 1},
		},
		{
			desc: "health check change is a real-server update",
			edit: func(d *model.NodeState, l *Live) {
				c := *d.Services[0].RealServers[0].Check
				h := *c.HTTP
				h.Path = "/ready"
				c.HTTP = &h
				d.Services[0].RealServers[0].Check = &c
			},
			want: []string{"~ real-server web-http 198.51.100.11:8080: check http GET /healthz status 200 port 8080, every 5s timeout 3s, retries 1, rise 1 fall 1→http GET /ready status 200 port 8080, every 5s timeout 3s, retries 1, rise 1 fall 1"},
			sum:  Summary{Change: 1},
		},
		{
			desc: "renamed service and new scheduler",
			edit: func(d *model.NodeState, l *Live) {
				d.Services[0].Name = "www-http"
				d.Services[0].Scheduler = "rr"
			},
			want: []string{"~ service www-http tcp 192.0.2.10:80: name web-http→www-http scheduler wlc→rr"},
			sum:  Summary{Change: 1},
		},
		{
			desc: "service removed with its real servers; unmanaged service noted",
			edit: func(d *model.NodeState, l *Live) {
				d.Services = d.Services[:1]
				l.Unmanaged = []model.VirtualService{{Family: model.IPv4, Protocol: model.UDP, Address: netip.MustParseAddr("203.0.113.5"), Port: 53}}
			},
			want: []string{"- service marked fwmark 7 (ipv4)", "- real-server marked 198.51.100.21", "# unmanaged  udp 203.0.113.5:53"},
			sum:  Summary{Destroy: 2},
		},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			d := sampleState()
			l := liveOf(t, sampleState())
			tc.edit(d, l)
			p := Diff(d, l)
			if got := lines(p); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("changes:\n got %q\nwant %q", got, tc.want)
			}
			if got := p.Summary(); got != tc.sum {
				t.Errorf("summary = %+v, want %+v", got, tc.sum)
			}
			if p.HasChanges() != !tc.sum.Empty() {
				t.Errorf("HasChanges = %v with summary %+v", p.HasChanges(), tc.sum)
			}
		})
	}
}

func TestDiffOffline(t *testing.T) {
	p := Diff(sampleState(), &Live{})
	want := []string{
		"+ vrrp-instance api vrid 52 on eth0 (ipv4)",
		"+ vrrp-instance web vrid 51 on eth0 (ipv4)",
		"+ sync-group edge edge",
		"+ tracked-check nginx nginx",
		"+ service web-http tcp 192.0.2.10:80",
		"+ real-server web-http 198.51.100.11:8080",
		"+ real-server web-http 198.51.100.12:8080",
		"+ service marked fwmark 7 (ipv4)",
		"+ real-server marked 198.51.100.21",
	}
	if got := lines(p); !reflect.DeepEqual(got, want) {
		t.Fatalf("changes:\n got %q\nwant %q", got, want)
	}
	if got := p.Summary(); got != (Summary{Add: 9}) {
		t.Errorf("summary = %+v", got)
	}
	// A create lists the VIPs with the instance (the engine adds them
	// when master), and only set fields.
	fields := map[string]string{}
	for _, f := range p.Changes[1].Fields {
		if f.Old != "" {
			t.Errorf("create field %s has an old value %q", f.Name, f.Old)
		}
		fields[f.Name] = f.New
	}
	for name, want := range map[string]string{
		"vips":          "192.0.2.10/24 on eth0",
		"priority":      "200",
		"preference":    "lb1 (200), lb2 (100)",
		"trackChecks":   "nginx (weight -50)",
		"notify.master": "/usr/local/bin/notify master",
	} {
		if fields[name] != want {
			t.Errorf("field %s = %q, want %q", name, fields[name], want)
		}
	}
	if _, ok := fields["sourceAddress"]; ok {
		t.Errorf("unset sourceAddress listed in a create")
	}
	if Diff(sampleState(), nil).Summary() != p.Summary() {
		t.Errorf("nil Live differs from empty Live")
	}
}

func TestPlanJSON(t *testing.T) {
	p := Diff(sampleState(), liveOf(t, sampleState()))
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"formatVersion":1,"node":"lb1","summary":{"add":0,"change":0,"destroy":0},"changes":[]}`; string(data) != want {
		t.Errorf("empty plan JSON:\n got %s\nwant %s", data, want)
	}
	d := sampleState()
	d.Instances[1].Priority = 150
	data, err = json.Marshal(Diff(d, liveOf(t, sampleState())))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"formatVersion":1,"node":"lb1","summary":{"add":0,"change":1,"destroy":0},"changes":[` +
		`{"action":"update","kind":"vrrp-instance","group":"web","name":"vrid 51 on eth0 (ipv4)","fields":[{"name":"priority","old":"200","new":"150"}]}]}`
	if string(data) != want {
		t.Errorf("plan JSON:\n got %s\nwant %s", data, want)
	}
}
