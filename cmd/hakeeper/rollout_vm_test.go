//go:build vmtest

package main

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/reconcile/source"
	"github.com/hakeeper/hakeeper/reconcile/status"
	"github.com/hakeeper/hakeeper/test/gitserver"
	"github.com/hakeeper/hakeeper/test/netlab"
)

// TestLVSLabRollback: the LVS lab's directors and real servers with the
// peer channel on. A commit adds web3, whose address is there but
// nothing answers on it: director2, the backup, applies it, sees web3
// fail its checks, rolls back and marks the commit bad; director1, the
// master, holds it for director2 and never applies it. Real IPVS: the
// rule judges real servers by the checks the director runs.
func TestLVSLabRollback(t *testing.T) {
	l := newLVSLab(t)
	ca := gitserver.NewCA(t, "lab CA")
	l.extraArgs = func(name string) []string {
		cert, key := ca.IssueNode(t, name)
		// The wait outlasts labWait: only director2's report may end it.
		return []string{"--peer-ca", ca.File, "--peer-cert", cert, "--peer-key", key,
			"--peer-interval", "500ms", "--health-window", "10s", "--rollout-wait", "10m"}
	}
	lab := l.lab
	d1, d2 := lab.Directors[0], lab.Directors[1]
	web := lab.RealServers
	cfg := netlab.LVSConfig{RealServers: []int{1, 2}, Advert: labAdvert, CheckInterval: labCheck}
	first := l.commit("two directors, two web servers", netlab.LVSDescription(cfg))
	for _, nd := range []*netlab.Node{d1, d2, web[0], web[1]} {
		l.start(nd)
	}
	l.waitHolder(t, d1)
	for _, d := range lab.Directors {
		l.waitIPVS(t, d, "both web servers", wantWeights(ones(1, 2), ones(1, 2)))
	}
	// Nothing listens on web3, and no hakeeper gives it the VIPs.
	l.backends["web3"].Stop()
	three := cfg
	three.RealServers = []int{1, 2, 3}
	bad := l.commit("add web3, which does not answer", netlab.LVSDescription(three))

	markedBy := func(name string) func() (bool, error) {
		return func() (bool, error) {
			r, err := l.status(l.nodes[name])
			if err != nil || r.Rollout == nil || r.Applied == nil {
				return false, nil
			}
			return r.Applied.ID == first && slices.ContainsFunc(r.Rollout.Bad, func(b status.BadRevision) bool { return b.ID == bad && b.By == "director2" }), nil
		}
	}
	if err := netlab.Wait(context.Background(), labWait, 50*time.Millisecond, markedBy("director2")); err != nil {
		t.Fatalf("director2 did not roll the commit back: %v", err)
	}
	if err := netlab.Wait(context.Background(), labWait, 50*time.Millisecond, markedBy("director1")); err != nil {
		t.Fatalf("director1 did not take director2's mark: %v", err)
	}
	out2 := l.nodes["director2"].out.String()
	if !strings.Contains(out2, "msg=applied revision="+source.ShortID(bad)) ||
		!strings.Contains(out2, `rolling back" revision=`+source.ShortID(bad)) || !strings.Contains(out2, "web3") {
		t.Errorf("director2 did not apply, then roll back, the commit for web3's failing check:\n%s", tail(out2, 30))
	}
	if out1 := l.nodes["director1"].out.String(); strings.Contains(out1, "msg=applied revision="+source.ShortID(bad)) {
		t.Errorf("director1 applied the bad commit:\n%s", tail(out1, 30))
	}
	r, err := l.status(l.nodes["director2"])
	if err != nil || r.Healthy || !regexp.MustCompile(`real server \w+ 192\.0\.2\.23:\d+ fails its check`).MatchString(r.Degraded) {
		t.Errorf("director2 status: %+v %v", r, err)
	}
	for _, d := range lab.Directors {
		l.waitIPVS(t, d, "back to the two web servers", wantWeights(ones(1, 2), ones(1, 2)))
	}
	l.waitHolder(t, d1)
}
