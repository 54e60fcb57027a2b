package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/hakeeper/hakeeper/lvs"
	"github.com/hakeeper/hakeeper/lvs/ipvskernel"
	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/reconcile/plan"
	"github.com/hakeeper/hakeeper/reconcile/status"
)

// openSyncDaemons opens this node's IPVS sync daemons for run and plan
// (tests swap in a fake).
var openSyncDaemons = func() (lvs.SyncDaemons, func(), error) {
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		return nil, nil, errors.New("the ip_vs module is not loaded: /proc/net/ip_vs is missing")
	}
	k, err := ipvskernel.NewSync("")
	if err != nil {
		return nil, nil, err
	}
	return k, k.Close, nil
}

// transitionSignal returns the engine's OnTransition and the channel it
// signals: one pending signal stands for any number of transitions.
func transitionSignal() (func(), <-chan struct{}) {
	ch := make(chan struct{}, 1)
	return func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	}, ch
}

// syncGroupState is the VRRP state the running daemon reports for the
// group whose state the sync daemon follows ("" when none).
func syncGroupState(desired *model.NodeState, report *status.Report) model.VRRPState {
	if desired.ConnectionSync == nil {
		return ""
	}
	for _, g := range report.VIPGroups {
		if g.Name == desired.ConnectionSync.Group {
			return model.VRRPState(g.State)
		}
	}
	return ""
}

// observeSyncDaemons reads the kernel's sync daemons for plan.
func observeSyncDaemons(desired *model.NodeState, live *plan.Live, stderr io.Writer) error {
	k, closeSync, err := openSyncDaemons()
	if err != nil {
		if desired.ConnectionSync != nil {
			fmt.Fprintf(stderr, "note: IPVS is not available here (%v): the sync daemon is planned as new\n", err)
		}
		return nil
	}
	defer closeSync()
	ds, err := k.SyncDaemons()
	if err != nil {
		return fmt.Errorf("reading the IPVS sync daemons: %w", err)
	}
	live.SyncDaemons = append([]lvs.SyncDaemon{}, ds...) // observed, even when none run
	return nil
}
