package controller_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/reconcile/source"
	"github.com/hakeeper/hakeeper/reconcile/status"
	"github.com/hakeeper/hakeeper/test/gitserver"
)

const dbGroup = `  db:
    vrid: 52
    vips: [192.0.2.101/24]
    nodes: [lb1]
`

func withDB(s string) string { return strings.Replace(s, "services:\n", dbGroup+"services:\n", 1) }

// Commits pushed to a repository served by git daemon drive the loop.
func TestGitCommitsDriveTheLoop(t *testing.T) {
	repo := gitserver.New(t)
	c1 := repo.CommitFile("web VIP and http service", "cluster.yaml", defaultCluster())
	g, err := source.NewGit(source.GitOptions{URL: repo.Daemon(), StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	n := newNodeFrom(t, g, t.TempDir())
	ctx := context.Background()
	if res, err := n.ctl.Start(ctx); err != nil || res.Revision != c1 {
		t.Fatalf("start: %+v %v", res, err)
	}
	n.clock.Advance(4 * time.Second)
	if !n.hasVIP("192.0.2.100") {
		t.Fatal("no VIP after the first commit")
	}

	step := func(what string) {
		t.Helper()
		if _, err := n.reconcile(true); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		n.clock.Advance(4 * time.Second)
	}
	// A new VIP group.
	c2 := repo.CommitFile("add db VIP group", "cluster.yaml", withDB(defaultCluster()))
	step("new VIP group")
	if !n.hasVIP("192.0.2.101") || n.ctl.Status().Applied.ID != c2 {
		t.Fatalf("db VIP present=%v, applied %s want %s", n.hasVIP("192.0.2.101"), n.ctl.Status().Applied.ID, c2)
	}
	// A changed real server: one IPVS write.
	before := n.ipvs.Writes
	c3 := repo.CommitFile("weight 4 on rs1", "cluster.yaml", withDB(cluster("192.0.2.100/24", "1s", 4)))
	step("changed real server")
	if n.ipvs.Writes-before != 1 || n.weights()["tcp/192.0.2.100:80 198.51.100.1:80"] != 4 {
		t.Errorf("weight change: %d writes, weights %v", n.ipvs.Writes-before, n.weights())
	}
	// A broken commit changes nothing; the status names its SHA and line.
	writes := n.writes()
	c4 := repo.CommitFile("oops", "cluster.yaml", strings.Replace(withDB(cluster("192.0.2.100/24", "1s", 4)), "vrid: 52", "vrid: 0", 1))
	if _, err := n.reconcile(true); err == nil || !strings.Contains(err.Error(), c4[:12]) {
		t.Fatalf("broken commit: %v", err)
	}
	st := n.ctl.Status()
	if st.Applied.ID != c3 || st.Fetched.ID != c4 || st.LastError.Revision != c4 ||
		!strings.Contains(st.LastError.Message, "cluster.yaml:12:5") || !strings.Contains(st.LastError.Message, "vipGroups.db.vrid") {
		t.Errorf("after broken commit: applied %s fetched %s error %+v", st.Applied.ID, st.Fetched.ID, st.LastError)
	}
	n.clock.Advance(4 * time.Second)
	if n.writes() != writes || !n.hasVIP("192.0.2.101") {
		t.Errorf("broken commit changed the node: %d writes", n.writes()-writes)
	}
	// The fix is applied.
	c5 := repo.CommitFile("fix", "cluster.yaml", withDB(cluster("192.0.2.100/24", "1s", 6)))
	step("fix")
	if st := n.ctl.Status(); st.Applied.ID != c5 || !st.Healthy || n.weights()["tcp/192.0.2.100:80 198.51.100.1:80"] != 6 {
		t.Errorf("fix not applied: %+v", st.Applied)
	}
	// A force-push is refused and reported.
	repo.Git("reset", "-q", "--hard", c3)
	c6 := repo.CommitFile("rewritten history", "cluster.yaml", withDB(cluster("192.0.2.100/24", "1s", 9)))
	writes = n.writes()
	if _, err := n.reconcile(true); err == nil {
		t.Fatal("force-push applied")
	}
	st = n.ctl.Status()
	if st.Applied.ID != c5 || st.LastError.Stage != "fetch" || st.LastError.Revision != c6 ||
		!strings.Contains(st.LastError.Message, "force-push") {
		t.Errorf("force-push: applied %s, error %+v", st.Applied.ID, st.LastError)
	}
	// The refused commit is the one shown as fetched, not the older one.
	if st.Fetched == nil || st.Fetched.ID != c6 || !st.Fetched.Refused || st.Fetched.Summary != "rewritten history" {
		t.Errorf("force-push: fetched %+v, want %s refused", st.Fetched, c6)
	}
	if !strings.HasPrefix(st.Degraded, "revision "+c6[:12]+" refused (fetch)") {
		t.Errorf("force-push: degraded %q", st.Degraded)
	}
	var text strings.Builder
	status.WriteText(&text, st, time.Now())
	if !strings.Contains(text.String(), c6[:12]+` "rewritten history"`) || !strings.Contains(text.String(), "(refused, not applied)") {
		t.Errorf("force-push: status text does not show the refused commit:\n%s", text.String())
	}
	if n.writes() != writes {
		t.Error("force-push changed the node")
	}
}

// With a keyring, an unsigned commit is refused and a signed one applied.
func TestGitUnsignedCommitRefused(t *testing.T) {
	repo := gitserver.New(t)
	keyring := repo.SigningKey("Release <release@example.org>")

	signed := repo.CommitFile("signed", "cluster.yaml", defaultCluster(), "-S", "--gpg-sign=release@example.org")
	g, err := source.NewGit(source.GitOptions{URL: "file://" + repo.Dir, StateDir: t.TempDir(), Keyring: keyring})
	if err != nil {
		t.Fatal(err)
	}
	n := newNodeFrom(t, g, t.TempDir())
	if res, err := n.ctl.Start(context.Background()); err != nil || res.Revision != signed {
		t.Fatalf("signed start: %+v %v", res, err)
	}
	writes := n.writes()
	unsigned := repo.CommitFile("unsigned", "cluster.yaml", cluster("192.0.2.100/24", "1s", 3))
	if _, err := n.reconcile(true); err == nil {
		t.Fatal("unsigned commit applied")
	}
	st := n.ctl.Status()
	if st.Applied.ID != signed || st.LastError.Revision != unsigned || st.Fetched.ID != unsigned || !st.Fetched.Refused || !strings.Contains(st.LastError.Message, "signature") {
		t.Errorf("unsigned: applied %s, error %+v", st.Applied.ID, st.LastError)
	}
	if n.writes() != writes {
		t.Error("unsigned commit changed the node")
	}
}
