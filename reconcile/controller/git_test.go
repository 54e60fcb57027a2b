package controller_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/reconcile/source"
	"github.com/hakeeper/hakeeper/reconcile/status"
)

// gitRepo is a real repository driven with the git CLI, as an operator would.
type gitRepo struct {
	t   testing.TB
	dir string
	env []string
}

func newGitRepo(t testing.TB) *gitRepo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	home := t.TempDir()
	r := &gitRepo{t: t, dir: filepath.Join(t.TempDir(), "cluster")}
	r.env = append(os.Environ(), "HOME="+home, "GIT_CONFIG_NOSYSTEM=1", "GNUPGHOME="+filepath.Join(home, ".gnupg"),
		"GIT_AUTHOR_NAME=Ops", "GIT_AUTHOR_EMAIL=ops@example.org", "GIT_COMMITTER_NAME=Ops", "GIT_COMMITTER_EMAIL=ops@example.org")
	os.MkdirAll(r.dir, 0o755)
	r.git("init", "-q", "-b", "main")
	return r
}

func (r *gitRepo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir, cmd.Env = r.dir, r.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func (r *gitRepo) commit(msg, content string, extra ...string) string {
	r.t.Helper()
	if err := os.WriteFile(filepath.Join(r.dir, "cluster.yaml"), []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
	r.git("add", "cluster.yaml")
	r.git(append([]string{"commit", "-q", "-m", msg}, extra...)...)
	return r.git("rev-parse", "HEAD")
}

// daemon serves the repository with `git daemon` on 127.0.0.1.
func (r *gitRepo) daemon() string {
	r.t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		r.t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	base := filepath.Dir(r.dir)
	cmd := exec.Command("git", "daemon", "--reuseaddr", "--export-all", "--base-path="+base,
		"--listen=127.0.0.1", fmt.Sprintf("--port=%d", port), base)
	cmd.Env = r.env
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("git daemon not listening on %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "git://" + addr + "/" + filepath.Base(r.dir)
}

const dbGroup = `  db:
    vrid: 52
    vips: [192.0.2.101/24]
    nodes: [lb1]
`

func withDB(s string) string { return strings.Replace(s, "services:\n", dbGroup+"services:\n", 1) }

// Commits pushed to a repository served by git daemon drive the loop.
func TestGitCommitsDriveTheLoop(t *testing.T) {
	repo := newGitRepo(t)
	c1 := repo.commit("web VIP and http service", defaultCluster())
	g, err := source.NewGit(source.GitOptions{URL: repo.daemon(), StateDir: t.TempDir()})
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
	c2 := repo.commit("add db VIP group", withDB(defaultCluster()))
	step("new VIP group")
	if !n.hasVIP("192.0.2.101") || n.ctl.Status().Applied.ID != c2 {
		t.Fatalf("db VIP present=%v, applied %s want %s", n.hasVIP("192.0.2.101"), n.ctl.Status().Applied.ID, c2)
	}
	// A changed real server: one IPVS write.
	before := n.ipvs.Writes
	c3 := repo.commit("weight 4 on rs1", withDB(cluster("192.0.2.100/24", "1s", 4)))
	step("changed real server")
	if n.ipvs.Writes-before != 1 || n.weights()["tcp/192.0.2.100:80 198.51.100.1:80"] != 4 {
		t.Errorf("weight change: %d writes, weights %v", n.ipvs.Writes-before, n.weights())
	}
	// A broken commit changes nothing; the status names its SHA and line.
	writes := n.writes()
	c4 := repo.commit("oops", strings.Replace(withDB(cluster("192.0.2.100/24", "1s", 4)), "vrid: 52", "vrid: 0", 1))
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
	c5 := repo.commit("fix", withDB(cluster("192.0.2.100/24", "1s", 6)))
	step("fix")
	if st := n.ctl.Status(); st.Applied.ID != c5 || !st.Healthy || n.weights()["tcp/192.0.2.100:80 198.51.100.1:80"] != 6 {
		t.Errorf("fix not applied: %+v", st.Applied)
	}
	// A force-push is refused and reported.
	repo.git("reset", "-q", "--hard", c3)
	c6 := repo.commit("rewritten history", withDB(cluster("192.0.2.100/24", "1s", 9)))
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
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Skip("gpg not installed")
	}
	repo := newGitRepo(t)
	var home string
	for _, kv := range repo.env {
		if v, ok := strings.CutPrefix(kv, "HOME="); ok {
			home = v
		}
	}
	gnupg := filepath.Join(home, ".gnupg")
	os.MkdirAll(gnupg, 0o700)
	gpg := func(args ...string) string {
		cmd := exec.Command("gpg", append([]string{"--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase", ""}, args...)...)
		cmd.Env = repo.env
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("gpg %v: %v", args, err)
		}
		return string(out)
	}
	gpg("--quick-gen-key", "Release <release@example.org>", "ed25519", "sign", "never")
	keyring := gpg("--armor", "--export", "release@example.org")
	t.Cleanup(func() { exec.Command("gpgconf", "--homedir", gnupg, "--kill", "all").Run() })

	signed := repo.commit("signed", defaultCluster(), "-S", "--gpg-sign=release@example.org")
	g, err := source.NewGit(source.GitOptions{URL: "file://" + repo.dir, StateDir: t.TempDir(), Keyring: keyring})
	if err != nil {
		t.Fatal(err)
	}
	n := newNodeFrom(t, g, t.TempDir())
	if res, err := n.ctl.Start(context.Background()); err != nil || res.Revision != signed {
		t.Fatalf("signed start: %+v %v", res, err)
	}
	writes := n.writes()
	unsigned := repo.commit("unsigned", cluster("192.0.2.100/24", "1s", 3))
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
