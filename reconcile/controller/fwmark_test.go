package controller_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/hakeeper/hakeeper/lvs/marks"
	"github.com/hakeeper/hakeeper/lvs/marks/markstest"
	"github.com/hakeeper/hakeeper/reconcile/controller"
)

// ftpCluster is the default description plus an FTP fwmark service
// whose match is PORTS.
func ftpCluster(ports string) string {
	return defaultCluster() + `  ftp:
    fwmark: 21
    group: web
    match:
      - {protocol: tcp, address: 192.0.2.100, ports: ` + ports + `}
    realServers:
      - {address: 198.51.100.1}
`
}

func rulesOf(f *markstest.Fake) []string {
	live, _, _ := f.Rules()
	var out []string
	for _, l := range live {
		out = append(out, l.String())
	}
	return out
}

// A revision's match becomes rules with only the differing ones written;
// rules changed by hand are put back by the periodic pass and counted as
// drift; a revision without match removes hakeeper's table.
func TestMarkRulesFollowRevisions(t *testing.T) {
	src := &memSource{}
	src.set("cluster.yaml", ftpCluster("[21, 10000-10100]"))
	fake := &markstest.Fake{}
	n := newNodeWith(t, "lb1", src, t.TempDir(), func(c *controller.Config) { c.Marks = fake })
	res, err := n.ctl.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"tcp 192.0.2.100 port 21 mark 21", "tcp 192.0.2.100 port 10000-10100 mark 21"}
	if got := rulesOf(fake); !slices.Equal(got, want) || fake.Writes != 1 {
		t.Fatalf("after start: rules %q, %d table writes; want %q in one", got, fake.Writes, want)
	}
	if res, err := n.reconcile(false); err != nil || fake.Writes != 1 || res.Repaired != 0 {
		t.Fatalf("an in-sync pass: %+v, %v, %d table writes; want none", res, err, fake.Writes-1)
	}

	// One rule deleted by hand: the periodic pass adds it back alone (the
	// other keeps its handle).
	fake.Live = fake.Live[1:]
	kept := fake.Live[0]
	res, err = n.reconcile(false)
	if err != nil {
		t.Fatal(err)
	}
	if got := rulesOf(fake); res.Repaired != 1 || !slices.Contains(got, want[0]) || len(got) != 2 || !slices.Contains(fake.Live, kept) {
		t.Errorf("repair: %+v, rules %q; want rule %q added back, the other kept", res, got, want[0])
	}
	if v := metricValue(t, n.ctl.Metrics(), "hakeeper_drift_repairs_total", "kind", "fwmark"); v != 1 {
		t.Errorf("fwmark drift repairs counted %v, want 1", v)
	}

	// A new revision moves the passive range: one rule out, one in.
	kept = fake.Live[slices.IndexFunc(fake.Live, func(l marks.Live) bool { return l.First == 21 })]
	src.set("cluster.yaml", ftpCluster("[21, 20000-20100]"))
	res, err = n.reconcile(true)
	if err != nil {
		t.Fatal(err)
	}
	if got := rulesOf(fake); !slices.Contains(fake.Live, kept) || !slices.Contains(got, "tcp 192.0.2.100 port 20000-20100 mark 21") || len(got) != 2 {
		t.Errorf("new range: rules %q; want port 21's rule kept and the new range's added", got)
	}

	// The service gone: hakeeper's table goes with it.
	src.set("cluster.yaml", defaultCluster())
	if _, err := n.reconcile(true); err != nil {
		t.Fatal(err)
	}
	if fake.Present {
		t.Errorf("table still present with rules %q after the service went", rulesOf(fake))
	}
}

// A node without nftables refuses a revision that needs rules and keeps
// running the one in force.
func TestMarkRulesWithoutNFTables(t *testing.T) {
	src := &memSource{}
	src.set("cluster.yaml", defaultCluster())
	n := newNode(t, src, t.TempDir())
	if _, err := n.ctl.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	src.set("cluster.yaml", ftpCluster("[21]"))
	_, err := n.reconcile(true)
	if err == nil || !strings.Contains(err.Error(), "nftables is not available") {
		t.Fatalf("apply without nftables: %v, want a refusal naming nftables", err)
	}
	if running := n.ctl.Running(); len(running.Services) != 1 {
		t.Errorf("running services %d after the refusal, want the old 1", len(running.Services))
	}
}

// Removing the services on shutdown removes hakeeper's table too; by
// default the rules stay, like the IPVS services, so traffic keeps
// flowing through a restart.
func TestMarkRulesOnShutdown(t *testing.T) {
	for _, remove := range []bool{false, true} {
		src := &memSource{}
		src.set("cluster.yaml", ftpCluster("[21]"))
		fake := &markstest.Fake{}
		n := newNodeWith(t, "lb1", src, t.TempDir(), func(c *controller.Config) {
			c.Marks, c.RemoveServicesOnShutdown = fake, remove
		})
		if _, err := n.ctl.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := n.ctl.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if fake.Present == remove {
			t.Errorf("remove on shutdown %v: table present %v afterwards", remove, fake.Present)
		}
	}
}
