//go:build vmtest

package ipvskernel_test

import (
	"errors"
	"net/netip"
	"runtime"
	"slices"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/hakeeper/hakeeper/lvs"
	"github.com/hakeeper/hakeeper/lvs/ipvskernel"
	"github.com/hakeeper/hakeeper/model"
)

// addDummy adds an up dummy link named name in ns: a sync daemon needs
// an existing interface (and a backup one that is up to join the group).
func addDummy(t *testing.T, ns netns.NsHandle, name string) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	h, err := netlink.NewHandleAt(ns, syscall.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	link := &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: name}}
	if err := h.LinkAdd(link); err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(link); err != nil {
		t.Fatal(err)
	}
}

// TestSyncDaemons starts a master and a backup daemon, reads them back as
// written (defaults and explicit settings alike), checks the kernel's
// refusals, and stops them.
func TestSyncDaemons(t *testing.T) {
	nsPath, ns := newNetns(t)
	addDummy(t, ns, "sync0")
	k, err := ipvskernel.NewSync(nsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if got, err := k.SyncDaemons(); err != nil || len(got) != 0 {
		t.Fatalf("a new namespace runs daemons %v (err %v)", got, err)
	}

	master := lvs.SyncDaemon{State: lvs.SyncMaster, Interface: "sync0", SyncID: 51}
	backup := lvs.SyncDaemon{State: lvs.SyncBackup, Interface: "sync0", SyncID: 7,
		Group: netip.MustParseAddr("239.1.2.3"), Port: 9000, TTL: 3, MaxLen: 1200}
	// The backup first: the kernel must list the master first anyway.
	for _, d := range []lvs.SyncDaemon{backup, master} {
		if err := k.StartSyncDaemon(d); err != nil {
			t.Fatal(err)
		}
	}
	got, err := k.SyncDaemons()
	if err != nil {
		t.Fatal(err)
	}
	want := []lvs.SyncDaemon{master.Normalize(), backup.Normalize()}
	if !slices.Equal(got, want) {
		t.Fatalf("kernel runs\n%v\nwant\n%v", got, want)
	}
	if got[0].Group != model.DefaultSyncMulticastGroup || got[0].Port != 8848 || got[0].MaxLen != 1472 {
		t.Errorf("master's defaults read back as %v", got[0])
	}
	// Nothing to do when the kernel already runs what is wanted.
	if started, stopped, err := lvs.ApplySyncDaemons(k, want); err != nil || len(started)+len(stopped) > 0 {
		t.Errorf("applying the running daemons started %v, stopped %v (err %v)", started, stopped, err)
	}

	if err := k.StartSyncDaemon(master); !errors.Is(err, syscall.EEXIST) {
		t.Errorf("a second master: err %v, want EEXIST", err)
	}
	if err := k.StartSyncDaemon(lvs.SyncDaemon{State: lvs.SyncBackup, Interface: "nosuch0"}); err == nil {
		t.Error("a daemon on a missing interface started")
	}

	// A changed setting restarts that daemon only.
	moved := master
	moved.SyncID = 52
	started, stopped, err := lvs.ApplySyncDaemons(k, []lvs.SyncDaemon{moved, backup})
	if err != nil || !slices.Equal(started, []lvs.SyncDaemon{moved.Normalize()}) || !slices.Equal(stopped, []lvs.SyncDaemon{master.Normalize()}) {
		t.Errorf("changing the master's sync id started %v, stopped %v (err %v)", started, stopped, err)
	}

	// Stopped at once after its start: a kernel whose thread has not run
	// yet (6.1) answers no ack at all, which StopSyncDaemon must survive.
	if err := k.StopSyncDaemon(lvs.SyncMaster); err != nil {
		t.Fatal(err)
	}
	if got, _ := k.SyncDaemons(); !slices.Equal(got, []lvs.SyncDaemon{backup.Normalize()}) {
		t.Errorf("after stopping the master the kernel runs %v", got)
	}
	if err := k.StopSyncDaemon(lvs.SyncMaster); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("stopping a stopped master: err %v, want ESRCH", err)
	}
	if _, _, err := lvs.ApplySyncDaemons(k, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := k.SyncDaemons(); len(got) != 0 {
		t.Errorf("after applying none the kernel runs %v", got)
	}
}
