package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"

	"github.com/hakeeper/hakeeper/lvs"
	"github.com/hakeeper/hakeeper/lvs/check"
	"github.com/hakeeper/hakeeper/lvs/ipvskernel"
	"github.com/hakeeper/hakeeper/lvs/marks"
	"github.com/hakeeper/hakeeper/lvs/realserver"
	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/reconcile/plan"
	"github.com/hakeeper/hakeeper/reconcile/status"
)

// observeNode reads this node's live state for `hakeeper plan`: the VRRP
// instances, checks and sync groups a running daemon runs (from its
// /config), the real-server role and the IPVS table through their
// programmers (so the plan lists exactly the writes a reconcile would
// make). VIPs are not read: the engine adds them on the master, and the
// plan does not diff them. The desired IPVS table has health applied as
// the daemon sees it (its /status), so a server it took out as unhealthy
// is not planned as "+ real-server".
//
// IPVS ownership (which services are hakeeper's) is read from the state
// directory: --state-dir, else the one the running daemon reports, else
// the default 'hakeeper run' would use for source on the planned node.
// Notes on what could not be observed go to stderr.
func observeNode(ctx context.Context, desired *model.NodeState, source, addr, stateDir string, stderr io.Writer) (*plan.Live, error) {
	live := &plan.Live{}
	client := status.NewClient(addr)
	var health map[serverKey]string
	running, err := client.Config(ctx)
	switch {
	case err == nil:
		live.Instances, live.Checks, live.SyncGroups, live.BGP = running.Instances, running.Checks, running.SyncGroups, running.BGP
		report, err := client.Status(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading the running daemon's health checks: %w", err)
		}
		health = serverHealth(report)
		live.SyncState = syncGroupState(desired, report)
		if stateDir == "" {
			stateDir = report.StateDir
		}
	case errors.Is(err, status.ErrNotRunning):
		fmt.Fprintf(stderr, "note: hakeeper is not running here (nothing listens at %s; --addr if it listens elsewhere): VRRP instances are planned as new\n", addr)
		if hasCheckedServers(desired.Services) {
			fmt.Fprintf(stderr, "note: no health check results without the daemon: every real server is assumed up\n")
		}
	default:
		return nil, fmt.Errorf("reading the running daemon's configuration: %w", err)
	}

	if stateDir == "" {
		stateDir = defaultStateDirFor(source, desired.Node)
	}
	rs := &realserver.Programmer{Kernel: realserver.Netlink{}, StatePath: filepath.Join(stateDir, realServerRecord)}
	rsPlan, err := rs.Plan(desired.RealServer)
	if err != nil {
		return nil, fmt.Errorf("planning the real-server role: %w", err)
	}
	live.RealServer = &rsPlan
	rules := marks.FromModel(desired.Services)
	if t, err := openMarks(); err != nil && len(rules) > 0 {
		fmt.Fprintf(stderr, "note: nftables is not available here (%v): fwmark rules are planned as new\n", err)
	} else if err == nil {
		p, err := marks.Read(t, rules)
		if err != nil {
			return nil, fmt.Errorf("reading the fwmark rules: %w", err)
		}
		live.Marks = &p
	}

	if err := observeSyncDaemons(desired, live, stderr); err != nil {
		return nil, err
	}
	k, closeIPVS, err := openIPVS()
	if err != nil {
		if len(desired.Services) > 0 {
			fmt.Fprintf(stderr, "note: IPVS is not available here (%v): virtual services are planned as new\n", err)
		}
		return live, nil
	}
	defer closeIPVS()
	prog := &lvs.Programmer{IPVS: k, StatePath: filepath.Join(stateDir, ipvsRecord)}
	ops, err := prog.Plan(lvs.TableFromModel(effectiveServices(desired.Services, health)))
	if err != nil {
		return nil, fmt.Errorf("planning IPVS: %w", err)
	}
	live.IPVS = &ops
	return live, nil
}

// serverKey names a real server of a virtual service as /status does:
// the service's IPVS key (tcp/192.0.2.10:80) and the server's address:port.
type serverKey struct{ service, server string }

// serverHealth indexes a daemon's report by server: up, down or unchecked.
func serverHealth(r *status.Report) map[serverKey]string {
	out := map[serverKey]string{}
	for _, svc := range r.Services {
		for _, rs := range svc.RealServers {
			if !rs.Sorry {
				out[serverKey{svc.Key, rs.Address}] = rs.Health
			}
		}
	}
	return out
}

func hasCheckedServers(services []model.VirtualService) bool {
	return slices.ContainsFunc(services, func(vs model.VirtualService) bool {
		return slices.ContainsFunc(vs.RealServers, func(rs model.RealServerSpec) bool { return rs.Check != nil })
	})
}

// effectiveServices applies health to the desired services as the daemon
// would: a server it reports down is left out (or drained, or replaced by
// the sorry server when the quorum is lost). With no report (nil health)
// every server is up, as 'hakeeper apply' programs them. A server the
// daemon does not check yet is up unless its service starts servers down.
func effectiveServices(services []model.VirtualService, health map[serverKey]string) []model.VirtualService {
	if health == nil {
		return services
	}
	out := make([]model.VirtualService, len(services))
	for i, vs := range services {
		svc, _ := lvs.FromModel(model.VirtualService{Family: vs.Family, Address: vs.Address, Port: vs.Port, Protocol: vs.Protocol, FWMark: vs.FWMark})
		key := svc.Key().String()
		vs.RealServers = check.EffectiveRealServers(vs, func(rs model.RealServerSpec) bool {
			h, known := health[serverKey{key, netip.AddrPortFrom(rs.Address, rs.Port).String()}]
			if !known {
				return !vs.StartDown
			}
			return h != "down"
		})
		out[i] = vs
	}
	return out
}

// openIPVS opens this node's IPVS table for run, apply and plan (tests
// swap in a fake).
var openIPVS = openKernelIPVS

// openMarks opens hakeeper's nftables table for run, apply and plan
// (tests swap in a fake).
var openMarks = marks.Open

// openKernelIPVS opens this node's IPVS table, and returns its closer,
// when the ip_vs module is loaded. It looks first, because the netlink
// library would otherwise try to modprobe and log its failure on every call.
func openKernelIPVS() (lvs.IPVS, func(), error) {
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		return nil, nil, errors.New("the ip_vs module is not loaded: /proc/net/ip_vs is missing")
	}
	k, err := ipvskernel.New("")
	if err != nil {
		return nil, nil, err
	}
	return k, k.Close, nil
}
