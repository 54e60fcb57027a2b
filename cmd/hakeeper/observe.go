package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hakeeper/hakeeper/lvs"
	"github.com/hakeeper/hakeeper/lvs/ipvskernel"
	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/reconcile/plan"
	"github.com/hakeeper/hakeeper/reconcile/status"
	"github.com/hakeeper/hakeeper/vrrpd/kernel"
)

func init() {
	setLiveObserver(&nodeObserver{
		addr:      statusAddr(),
		ownedPath: filepath.Join(defaultStateDir, "ipvs-owned.json"),
		stderr:    os.Stderr,
	})
}

// nodeObserver reads this node's live state for `hakeeper plan`: the VRRP
// instances a running daemon runs (from its /config), the VIPs on the
// interfaces, and the IPVS table through the lvs programmer (so the plan
// lists exactly the writes a reconcile would make).
type nodeObserver struct {
	addr      string
	ownedPath string
	stderr    io.Writer
}

func (o *nodeObserver) Observe(ctx context.Context, desired *model.NodeState) (*plan.Live, error) {
	live := &plan.Live{}
	running, err := status.NewClient(o.addr).Config(ctx)
	switch {
	case err == nil:
		live.Instances = running.Instances
	case errors.Is(err, status.ErrNotRunning):
		fmt.Fprintf(o.stderr, "note: hakeeper is not running here (%s): VRRP instances are planned as new\n", o.addr)
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

	k, err := openIPVS()
	if err != nil {
		if len(desired.Services) > 0 {
			fmt.Fprintf(o.stderr, "note: IPVS is not available here (%v): virtual services are planned as new\n", err)
		}
		return live, nil
	}
	defer k.Close()
	prog := &lvs.Programmer{IPVS: k, StatePath: o.ownedPath}
	ops, err := prog.Plan(lvs.TableFromModel(desired.Services))
	if err != nil {
		return nil, fmt.Errorf("planning IPVS: %w", err)
	}
	live.IPVS = &ops
	return live, nil
}

// openIPVS opens the kernel's IPVS table when the ip_vs module is loaded.
// It looks first, because the netlink library would otherwise try to
// modprobe and log its failure on every call.
func openIPVS() (*ipvskernel.Kernel, error) {
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		return nil, errors.New("the ip_vs module is not loaded (no /proc/net/ip_vs)")
	}
	return ipvskernel.New("")
}
