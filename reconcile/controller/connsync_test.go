package controller_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/lvs"
	"github.com/hakeeper/hakeeper/lvs/lvstest"
	"github.com/hakeeper/hakeeper/reconcile/controller"
)

func daemonStates(t *testing.T, f *lvstest.FakeSync) string {
	t.Helper()
	ds, _ := f.SyncDaemons()
	var out []string
	for _, d := range ds {
		out = append(out, d.String())
	}
	return strings.Join(out, "; ")
}

// The sync daemon follows the group's VRRP state (backup until lb1 is
// master, then master alone), a daemon stopped by hand is restarted and
// counted as drift, a revision without connectionSync stops hakeeper's
// daemons, and daemons hakeeper never started are left alone.
func TestSyncDaemonFollowsVRRP(t *testing.T) {
	src := &memSource{}
	syncing := strings.Replace(defaultCluster(), "    advertInterval: 1s\n", "    advertInterval: 1s\n    connectionSync: {interface: sync0}\n", 1)
	src.set("cluster.yaml", syncing)
	fake := &lvstest.FakeSync{}
	n := newNodeWith(t, "lb1", src, t.TempDir(), func(c *controller.Config) { c.SyncDaemons = fake })
	if _, err := n.ctl.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	backup := "backup on sync0 syncid 51 group 224.0.0.81 port 8848 ttl 1 maxlen 1472"
	master := strings.Replace(backup, "backup", "master", 1)
	if got := daemonStates(t, fake); got != backup {
		t.Fatalf("after start (VRRP backup): daemons %q, want %q", got, backup)
	}
	n.clock.Advance(4 * time.Second) // lb1 alone becomes master
	res, err := n.reconcile(false)
	if got := daemonStates(t, fake); err != nil || got != master || res.Repaired != 0 {
		t.Fatalf("lb1 master: daemons %q, %+v, %v; want %q and no drift", got, res, err, master)
	}
	if res, err := n.reconcile(false); err != nil || res.Repaired != 0 || fake.Starts != 2 {
		t.Fatalf("an in-sync pass: %+v, %v, %d starts; want no change", res, err, fake.Starts)
	}

	if err := fake.StopSyncDaemon(lvs.SyncMaster); err != nil {
		t.Fatal(err)
	}
	res, err = n.reconcile(false)
	if got := daemonStates(t, fake); err != nil || got != master || res.Repaired != 1 {
		t.Fatalf("after a hand stop: daemons %q, %+v, %v; want %q back, one repair", got, res, err, master)
	}
	if d := n.ctl.Status().Drift; !strings.Contains(d.LastWhat, "sync daemon master") {
		t.Errorf("status drift %+v does not name the sync daemon", d)
	}
	if st := n.ctl.Status().SyncDaemons; len(st) != 1 || st[0].State != "master" || st[0].Group != "web" {
		t.Errorf("status sync daemons %+v, want web's master", st)
	}

	src.set("cluster.yaml", defaultCluster())
	if _, err := n.reconcile(true); err != nil {
		t.Fatal(err)
	}
	if got := daemonStates(t, fake); got != "" {
		t.Fatalf("without connectionSync the daemons %q still run", got)
	}
	hand := lvs.SyncDaemon{State: lvs.SyncBackup, Interface: "eth0", SyncID: 9}
	if err := fake.StartSyncDaemon(hand); err != nil {
		t.Fatal(err)
	}
	if _, err := n.reconcile(false); err != nil || daemonStates(t, fake) != hand.String() {
		t.Errorf("a daemon hakeeper did not start: %q (err %v), want it left alone", daemonStates(t, fake), err)
	}
}

// A node without IPVS refuses a revision that gives it connectionSync.
func TestSyncDaemonUnavailable(t *testing.T) {
	src := &memSource{}
	src.set("cluster.yaml", strings.Replace(defaultCluster(), "    advertInterval: 1s\n", "    advertInterval: 1s\n    connectionSync: {}\n", 1))
	n := newNodeWith(t, "lb1", src, t.TempDir(), nil)
	if _, err := n.ctl.Start(context.Background()); err == nil || !strings.Contains(err.Error(), `IPVS connection sync is not available on this node, but group "web" sets connectionSync`) {
		t.Fatalf("start: %v", err)
	}
}

// Run switches the daemon on the engine's transition signal alone: with
// the drift interval an hour away, nothing else could.
func TestSyncDaemonSwitchesOnTransitionSignal(t *testing.T) {
	src := &memSource{}
	src.set("cluster.yaml", strings.Replace(defaultCluster(), "    advertInterval: 1s\n", "    advertInterval: 1s\n    connectionSync: {interface: sync0}\n", 1))
	fake := &lvstest.FakeSync{}
	transitions := make(chan struct{}, 1)
	n := newNodeWith(t, "lb1", src, t.TempDir(), func(c *controller.Config) {
		c.SyncDaemons, c.Transitions, c.Interval = fake, transitions, time.Hour
	})
	if _, err := n.ctl.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- n.ctl.Run(ctx) }()
	defer func() { cancel(); <-done }()
	n.clock.Advance(4 * time.Second) // lb1 becomes master
	transitions <- struct{}{}
	deadline := time.Now().Add(time.Minute)
	for !strings.HasPrefix(daemonStates(t, fake), "master ") {
		if time.Now().After(deadline) {
			t.Fatalf("daemons %q a minute after the transition signal, want master", daemonStates(t, fake))
		}
		time.Sleep(time.Millisecond)
	}
}

// Shutdown stops the daemons hakeeper runs, as the group leaves with it.
func TestSyncDaemonStopsOnShutdown(t *testing.T) {
	src := &memSource{}
	src.set("cluster.yaml", strings.Replace(defaultCluster(), "    advertInterval: 1s\n", "    advertInterval: 1s\n    connectionSync: {}\n", 1))
	fake := &lvstest.FakeSync{}
	n := newNodeWith(t, "lb1", src, t.TempDir(), func(c *controller.Config) { c.SyncDaemons = fake })
	if _, err := n.ctl.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := daemonStates(t, fake); got == "" {
		t.Fatal("no daemon after start")
	}
	if err := n.ctl.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := daemonStates(t, fake); got != "" {
		t.Errorf("after shutdown the kernel still runs %q", got)
	}
}
