package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/hakeeper/hakeeper/lvs"
	"github.com/hakeeper/hakeeper/lvs/check"
	"github.com/hakeeper/hakeeper/lvs/ipvskernel"
	"github.com/hakeeper/hakeeper/lvs/marks"
	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/reconcile/plan"
	"github.com/hakeeper/hakeeper/reconcile/status"
	"github.com/hakeeper/hakeeper/vrrpd/kernel"
)

func init() {
	setLiveObserver(&nodeObserver{
		addr:     statusAddr(),
		stderr:   os.Stderr,
		openIPVS: openKernelIPVS,
	})
}

// nodeObserver reads this node's live state for `hakeeper plan`: the VRRP
// instances a running daemon runs (from its /config), the VIPs on the
// interfaces, and the IPVS table through the lvs programmer (so the plan
// lists exactly the writes a reconcile would make). The desired IPVS
// table has health applied as the daemon sees it (its /status), so a
// server it took out as unhealthy is not planned as "+ real-server".
//
// IPVS ownership (which services are hakeeper's) is read from the state
// directory: --state-dir, else the one the running daemon reports, else
// the default 'hakeeper run' would use for source on the planned node.
type nodeObserver struct {
	addr     string
	stateDir string
	source   string
	stderr   io.Writer
	// openIPVS opens the node's IPVS table and returns its closer.
	openIPVS func() (lvs.IPVS, func(), error)
}

func (o *nodeObserver) Observe(ctx context.Context, desired *model.NodeState) (*plan.Live, error) {
	live := &plan.Live{}
	client := status.NewClient(o.addr)
	var health map[serverKey]string
	stateDir := o.stateDir
	running, err := client.Config(ctx)
	switch {
	case err == nil:
		live.Instances, live.Checks, live.SyncGroups = running.Instances, running.Checks, running.SyncGroups
		report, err := client.Status(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading the running daemon's health checks: %w", err)
		}
		health = serverHealth(report)
		if stateDir == "" {
			stateDir = report.StateDir
		}
	case errors.Is(err, status.ErrNotRunning):
		fmt.Fprintf(o.stderr, "note: hakeeper is not running here (nothing listens at %s; --addr if it listens elsewhere): VRRP instances are planned as new\n", o.addr)
		if hasCheckedServers(desired.Services) {
			fmt.Fprintf(o.stderr, "note: no health check results without the daemon: every real server is assumed up\n")
		}
	default:
		return nil, fmt.Errorf("reading the running daemon's configuration: %w", err)
	}

	addrs, err := kernel.NewAddresses()
	if err != nil {
		return nil, err
	}
	defer addrs.Close()
	seen := map[string]bool{}
	for _, in := range desired.Instances {
		for _, v := range in.VIPs {
			if seen[v.Device] {
				continue
			}
			seen[v.Device] = true
			present, err := addrs.List(v.Device)
			if err != nil {
				continue // a missing device is the engine's error to report
			}
			for _, p := range present {
				live.VIPs = append(live.VIPs, model.VIPSpec{Prefix: p, Device: v.Device})
			}
		}
	}

	rules := marks.FromModel(desired.Services)
	if t, err := marks.Open(); err != nil && len(rules) > 0 {
		fmt.Fprintf(o.stderr, "note: nftables is not available here (%v): fwmark rules are planned as new\n", err)
	} else if err == nil {
		p, err := marks.Read(t, rules)
		if err != nil {
			return nil, fmt.Errorf("reading the fwmark rules: %w", err)
		}
		live.Marks = &p
	}

	k, closeIPVS, err := o.openIPVS()
	if err != nil {
		if len(desired.Services) > 0 {
			fmt.Fprintf(o.stderr, "note: IPVS is not available here (%v): virtual services are planned as new\n", err)
		}
		return live, nil
	}
	defer closeIPVS()
	if stateDir == "" {
		stateDir = defaultStateDirFor(o.source, desired.Node)
	}
	prog := &lvs.Programmer{IPVS: k, StatePath: filepath.Join(stateDir, "ipvs-owned.json")}
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
	for _, vs := range services {
		for _, rs := range vs.RealServers {
			if rs.Check != nil {
				return true
			}
		}
	}
	return false
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

// openKernelIPVS opens this node's IPVS table for the observer.
func openKernelIPVS() (lvs.IPVS, func(), error) {
	k, err := openIPVS()
	if err != nil {
		return nil, nil, err
	}
	return k, k.Close, nil
}

// openIPVS opens the kernel's IPVS table when the ip_vs module is loaded.
// It looks first, because the netlink library would otherwise try to
// modprobe and log its failure on every call.
func openIPVS() (*ipvskernel.Kernel, error) {
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		return nil, errors.New("the ip_vs module is not loaded: /proc/net/ip_vs is missing")
	}
	return ipvskernel.New("")
}
