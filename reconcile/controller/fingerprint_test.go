package controller_test

import (
	"fmt"
	"hash/fnv"
	"sync"
	"testing"

	"github.com/hakeeper/hakeeper/lvs/lvstest"
	"github.com/hakeeper/hakeeper/reconcile/controller"
)

// fakePrint fingerprints the in-memory table; frozen, it keeps reporting
// the print it had, like a change /proc/net/ip_vs does not show.
type fakePrint struct {
	mu     sync.Mutex
	ipvs   *lvstest.Fake
	frozen *uint64
}

var _ controller.Fingerprinter = (*fakePrint)(nil)

func (f *fakePrint) Fingerprint() (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.frozen != nil {
		return *f.frozen, nil
	}
	h := fnv.New64a()
	fmt.Fprint(h, f.ipvs.Table())
	return h.Sum64(), nil
}

func (f *fakePrint) freeze(on bool) {
	v, _ := f.Fingerprint()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.frozen = nil
	if on {
		f.frozen = &v
	}
}

// Drift passes skip reading IPVS while its fingerprint is the one taken
// when it was last in sync, repair a change the fingerprint shows at
// once, and read the whole table every FullCheckEvery-th pass to find a
// change it does not show.
func TestFingerprintSkipsReadingAnUnchangedTable(t *testing.T) {
	src := &memSource{}
	src.set("cluster.yaml", defaultCluster())
	fp := &fakePrint{}
	n := newNodeWith(t, "lb1", src, t.TempDir(), func(c *controller.Config) {
		c.Fingerprint = fp
		c.FullCheckEvery = 3
	})
	fp.ipvs = n.ipvs
	if _, err := n.ctl.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	pass := func() (res controller.Result, reads int) {
		t.Helper()
		before := n.ipvs.Reads
		res, err := n.reconcile(false)
		if err != nil {
			t.Fatal(err)
		}
		return res, n.ipvs.Reads - before
	}
	if _, reads := pass(); reads == 0 {
		t.Fatal("first drift pass after the apply wrote nothing yet trusted a fingerprint of a table never read in sync")
	}
	if res, reads := pass(); reads != 0 || res.IPVSOps != 0 {
		t.Errorf("unchanged table: %d reads, %+v; want the read skipped", reads, res)
	}

	// A change the fingerprint shows is repaired on the next pass.
	svc := n.ipvs.Table()[0].Service
	dst := n.ipvs.Table()[0].Destinations[0]
	dst.Weight = 42
	n.ipvs.UpdateDestination(svc, dst)
	if res, reads := pass(); reads == 0 || res.Repaired != 1 {
		t.Errorf("visible change: %d reads, %+v; want it read and repaired", reads, res)
	}
	pass() // found in sync again

	// One it does not show waits for the full read, FullCheckEvery passes on.
	fp.freeze(true)
	n.ipvs.UpdateDestination(svc, dst)
	for i := 1; i <= 2; i++ {
		if res, reads := pass(); reads != 0 || res.Repaired != 0 {
			t.Errorf("pass %d trusting the fingerprint: %d reads, %+v", i, reads, res)
		}
	}
	if res, reads := pass(); reads == 0 || res.Repaired != 1 {
		t.Errorf("full read: %d reads, %+v; want the hidden change repaired", reads, res)
	}
	if w := n.weights()["tcp/192.0.2.100:80 198.51.100.1:80"]; w != 1 {
		t.Errorf("weight %d after repair, want 1", w)
	}

	// A health change is never skipped: the wanted table differs.
	fp.freeze(false)
	pass()
	n.checker.setDown("198.51.100.2:80", true)
	if res, _ := pass(); res.IPVSOps != 1 {
		t.Errorf("health change: %+v, want one write", res)
	}
}
