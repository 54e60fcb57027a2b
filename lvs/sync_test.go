package lvs_test

import (
	"errors"
	"net/netip"
	"slices"
	"syscall"
	"testing"

	"github.com/hakeeper/hakeeper/lvs"
	"github.com/hakeeper/hakeeper/lvs/lvstest"
	"github.com/hakeeper/hakeeper/model"
)

// ApplySyncDaemons writes only what differs: nothing for daemons already
// running as wanted (written with or without the defaults), a restart for
// one whose settings changed, a stop for one no longer wanted.
func TestApplySyncDaemons(t *testing.T) {
	k := &lvstest.FakeSync{}
	backup := lvs.SyncDaemon{State: lvs.SyncBackup, Interface: "eth1", SyncID: 5}
	if _, _, err := lvs.ApplySyncDaemons(k, []lvs.SyncDaemon{backup}); err != nil {
		t.Fatal(err)
	}
	explicit := lvs.SyncDaemon{State: lvs.SyncBackup, Interface: "eth1", SyncID: 5,
		Group: model.DefaultSyncMulticastGroup, Port: 8848, TTL: 1, MaxLen: 1472}
	if started, stopped, err := lvs.ApplySyncDaemons(k, []lvs.SyncDaemon{explicit}); err != nil || len(started)+len(stopped) > 0 {
		t.Fatalf("the same daemon with its defaults written out: started %v, stopped %v, %v", started, stopped, err)
	}
	moved := backup
	moved.Group = netip.MustParseAddr("239.0.0.1")
	master := lvs.SyncDaemon{State: lvs.SyncMaster, Interface: "eth1", SyncID: 5}
	started, stopped, err := lvs.ApplySyncDaemons(k, []lvs.SyncDaemon{master, moved})
	if err != nil || !slices.Equal(stopped, []lvs.SyncDaemon{explicit}) ||
		!slices.Equal(started, []lvs.SyncDaemon{master.Normalize(), moved.Normalize()}) {
		t.Fatalf("started %v, stopped %v, %v", started, stopped, err)
	}
	if _, stopped, err := lvs.ApplySyncDaemons(k, nil); err != nil || len(stopped) != 2 {
		t.Fatalf("applying none stopped %v, %v", stopped, err)
	}
	if err := k.StopSyncDaemon(lvs.SyncMaster); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the fake stops an absent daemon: %v", err)
	}
}

// The daemon's state follows the group's: master only on the master.
func TestSyncDaemonsFromModel(t *testing.T) {
	spec := &model.ConnectionSyncSpec{Group: "web", Interface: "eth1", SyncID: 51}
	for state, want := range map[model.VRRPState]lvs.SyncState{
		model.StateMaster: lvs.SyncMaster, model.StateBackup: lvs.SyncBackup,
		model.StateFault: lvs.SyncBackup, model.StateInit: lvs.SyncBackup, "": lvs.SyncBackup,
	} {
		if ds := lvs.SyncDaemonsFromModel(spec, state); len(ds) != 1 || ds[0].State != want || ds[0].Port != 8848 {
			t.Errorf("%q: %v, want one %s daemon with the defaults", state, ds, want)
		}
	}
	if ds := lvs.SyncDaemonsFromModel(nil, model.StateMaster); ds != nil {
		t.Errorf("no spec: %v", ds)
	}
}
