package controller_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/reconcile/source"
)

// runLoop starts the controller's Run loop until the test ends.
func runLoop(t testing.TB, n *node) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.ctl.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// A watched directory drives the loop: an editor's rename-and-replace, a
// partial write (refused, then completed), files added and deleted.
func TestDirectoryDrivesTheLoop(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cluster.d")
	os.MkdirAll(dir, 0o755)
	main := filepath.Join(dir, "cluster.yaml")
	os.WriteFile(main, []byte(defaultCluster()), 0o644)
	n := newNodeFrom(t, source.NewDir(dir), t.TempDir())
	if _, err := n.ctl.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	runLoop(t, n)
	waitWatching(t, n, dir)
	weight := func() uint32 { return n.weights()["tcp/192.0.2.100:80 198.51.100.1:80"] }

	// Rename-and-replace, as editors and deploy tools save.
	tmp := filepath.Join(dir, ".cluster.yaml.swp")
	os.WriteFile(tmp, []byte(cluster("192.0.2.100/24", "1s", 3)), 0o644)
	os.Rename(tmp, main)
	waitFor(t, "the renamed file to be applied", func() bool { return weight() == 3 })

	// A partial write does not load: nothing changes until it is complete.
	full := cluster("192.0.2.100/24", "1s", 8)
	writes := n.ipvs.Writes
	os.WriteFile(main, []byte(full[:len(full)-20]), 0o644)
	waitFor(t, "the partial write to be refused", func() bool {
		st := n.ctl.Status()
		return st.LastError != nil && st.LastError.Stage != "" && st.Fetched != nil && st.Fetched.ID != st.Applied.ID
	})
	if n.ipvs.Writes != writes || weight() != 3 {
		t.Fatalf("partial write changed IPVS (weight %d)", weight())
	}
	os.WriteFile(main, []byte(full), 0o644)
	waitFor(t, "the completed write to be applied", func() bool { return weight() == 8 })

	// The description split over two files; deleting one drops its group.
	os.WriteFile(filepath.Join(dir, "db.yaml"), []byte("vipGroups:\n"+dbGroup), 0o644)
	waitFor(t, "the new file's group", func() bool { return len(n.ctl.Running().Instances) == 2 })
	os.Remove(filepath.Join(dir, "db.yaml"))
	waitFor(t, "the deleted file's group to go", func() bool { return len(n.ctl.Running().Instances) == 1 })
}

// waitWatching returns once the directory watch is established: a touched
// file then leads to a pass triggered by the watch.
func waitWatching(t testing.TB, n *node, dir string) {
	t.Helper()
	probe := filepath.Join(dir, "probe.txt")
	defer os.Remove(probe)
	waitFor(t, "the directory watch", func() bool {
		if lr := n.ctl.Status().LastReconcile; lr != nil && lr.Trigger == "watch" {
			return true
		}
		os.WriteFile(probe, []byte(time.Now().String()), 0o644)
		// Longer than the source's debounce, which each write restarts.
		time.Sleep(150 * time.Millisecond)
		return false
	})
}

// A file the daemon must not show: neither a symlink leading out of the
// watched directory nor a file that is no description gets its content
// into /status, which any local user may read. The running
// configuration stays.
func TestDirectoryNeverShowsForeignFiles(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "shadow")
	const hash = "$6$rounds=5000$SECRETSALT$SECRETHASHSECRETHASHSECRETHASH"
	os.WriteFile(secret, []byte("root:"+hash+":19000:0:99999:7:::\nadmin:"+hash+":19000:0:99999:7:::\n"), 0o600)
	dir := filepath.Join(t.TempDir(), "cluster.d")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "cluster.yaml"), []byte(defaultCluster()), 0o644)
	n := newNodeFrom(t, source.NewDir(dir), t.TempDir())
	if _, err := n.ctl.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := serve(t, n, nil)
	runLoop(t, n)
	waitWatching(t, n, dir)

	link := filepath.Join(dir, "users.yaml")
	for _, step := range []struct {
		what, want string
		// never is what /status must not show: nothing of the file
		// followed out of the directory; of the one inside it, no more
		// than a 40-byte excerpt of the first line.
		never []string
		make  func()
	}{
		{"a symlink out of the directory", link + ": a symlink leading out of " + dir, []string{"SECRET", "root", "admin"}, func() { os.Symlink(secret, link) }},
		{"a copy of the file inside it", "not a cluster description", []string{"SECRETHASHSECRETHASH", "admin"}, func() {
			os.Remove(link)
			b, _ := os.ReadFile(secret)
			os.WriteFile(link, b, 0o600)
		}},
	} {
		step.make()
		var body string
		waitFor(t, step.what+" to be refused", func() bool {
			_, body = get(t, srv.URL+"/status")
			return strings.Contains(body, step.want)
		})
		for _, never := range step.never {
			if strings.Contains(body, never) {
				t.Errorf("%s: /status shows %q of the file:\n%s", step.what, never, body)
			}
		}
		if len(n.ctl.Running().Instances) != 1 {
			t.Errorf("%s: the running configuration changed", step.what)
		}
	}
}
