package plan

import (
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/lvs"
	"github.com/hakeeper/hakeeper/lvs/realserver"
	"github.com/hakeeper/hakeeper/model"
)

// sampleState is a small node: two VIP groups in one sync group, a
// tracked check, one HTTP service with two real servers and a fwmark
// service.
func sampleState() *model.NodeState {
	check := &model.CheckSpec{Type: "http", Interval: 5 * time.Second, Timeout: 3 * time.Second, Retries: 1, Rise: 1, Fall: 1, Port: 8080,
		HTTP: &model.HTTPCheck{Path: "/healthz", Status: model.StatusCodes{model.StatusCode(200)}}}
	return &model.NodeState{
		Cluster: "lab", Node: "lb1", Address: netip.MustParseAddr("192.0.2.1"), Interface: "eth0",
		Instances: []model.Instance{
			{
				Name: "api", VRID: 52, Interface: "eth0", Family: model.IPv4, Version: 3, Priority: 100, InitialState: model.StateBackup,
				Preference:     []model.NodePriority{{Node: "lb2", Priority: 200}, {Node: "lb1", Priority: 100}},
				AdvertInterval: time.Second, Preempt: true,
				VIPs: []model.VIPSpec{{Prefix: netip.MustParsePrefix("192.0.2.20/24"), Device: "eth0"}},
				GARP: model.GARPSpec{Repeat: 5, RefreshDelay: 5 * time.Second},
			},
			{
				Name: "web", VRID: 51, Interface: "eth0", Family: model.IPv4, Version: 3, Priority: 200, InitialState: model.StateBackup,
				Preference:     []model.NodePriority{{Node: "lb1", Priority: 200}, {Node: "lb2", Priority: 100}},
				AdvertInterval: time.Second, Preempt: true,
				VIPs:        []model.VIPSpec{{Prefix: netip.MustParsePrefix("192.0.2.10/24"), Device: "eth0"}},
				TrackChecks: []model.TrackedCheck{{Check: "nginx", Weight: -50}},
				Notify:      model.NotifySpec{Master: model.Command{Argv: []string{"/usr/local/bin/notify", "master"}}, Timeout: 10 * time.Second},
				GARP:        model.GARPSpec{Repeat: 5, RefreshDelay: 5 * time.Second},
			},
		},
		Services: []model.VirtualService{
			{
				Name: "web-http", Group: "web", Family: model.IPv4, Address: netip.MustParseAddr("192.0.2.10"), Port: 80, Protocol: model.TCP,
				Scheduler: "wlc", Forwarding: model.NAT, Quorum: 1,
				RealServers: []model.RealServerSpec{
					{Address: netip.MustParseAddr("198.51.100.11"), Port: 8080, Weight: 1, Check: check},
					{Address: netip.MustParseAddr("198.51.100.12"), Port: 8080, Weight: 2, Check: check},
				},
			},
			{
				Name: "marked", Family: model.IPv4, FWMark: 7, Scheduler: "sh", SchedulerFlags: []string{"sh-port"}, Forwarding: model.DR,
				Persistence: 300 * time.Second, PersistenceMask: 24, Quorum: 1,
				RealServers: []model.RealServerSpec{{Address: netip.MustParseAddr("198.51.100.21"), Weight: 1}},
			},
		},
		Checks: []model.TrackCheckSpec{{
			Name: "nginx", Command: model.Command{Argv: []string{"/usr/bin/pgrep", "-x", "nginx"}},
			Interval: 2 * time.Second, Timeout: 2 * time.Second, Rise: 1, Fall: 1, Weight: -50, User: "root",
		}},
		SyncGroups: []model.SyncGroupSpec{{
			Name: "edge", Instances: []string{"api", "web"},
			Notify: model.NotifySpec{Master: model.Command{Shell: "logger edge master"}, Timeout: 10 * time.Second, User: "root"},
		}},
	}
}

// liveOf is what a faithful daemon would report for ns: a deep copy, so
// the diff cannot get away with comparing pointers.
func liveOf(t testing.TB, ns *model.NodeState) *Live {
	t.Helper()
	data, err := json.Marshal(ns)
	if err != nil {
		t.Fatal(err)
	}
	var cp model.NodeState
	if err := json.Unmarshal(data, &cp); err != nil {
		t.Fatal(err)
	}
	return liveState(&cp)
}

// liveState is the live side a daemon running exactly ns reports.
func liveState(ns *model.NodeState) *Live {
	// An empty real-server plan: the kernel holds the role.
	return &Live{Instances: ns.Instances, Services: ns.Services, Checks: ns.Checks, SyncGroups: ns.SyncGroups, RealServer: &realserver.Plan{}, BGP: ns.BGP,
		SyncDaemons: lvs.SyncDaemonsFromModel(ns.ConnectionSync, "")}
}
