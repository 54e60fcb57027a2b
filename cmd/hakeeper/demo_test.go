package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/test/netlab"
	"github.com/hakeeper/hakeeper/test/netns"
)

// TestDemoPrintCluster: --print-cluster prints the built-in cluster, and
// that cluster is valid.
func TestDemoPrintCluster(t *testing.T) {
	code, stdout, stderr := runCLI(t, "demo", "--print-cluster")
	if code != exitOK || stdout != string(demoClusterYAML) {
		t.Fatalf("exit %d, stdout differs from the embedded cluster: %q, stderr %q", code, stdout, stderr)
	}
	path := filepath.Join(t.TempDir(), "cluster.yaml")
	os.WriteFile(path, []byte(stdout), 0o644)
	if code, out, errOut := runCLI(t, "validate", path); code != exitOK {
		t.Fatalf("printed cluster does not validate: %d %s %s", code, out, errOut)
	}
}

// TestDemoOffline: without the live lab the demo shows the preference
// table, then validate, show and plan --offline of the first node, and
// exits 0 without creating a namespace.
func TestDemoOffline(t *testing.T) {
	code, stdout, stderr := runCLI(t, "demo", "--offline")
	if code != exitOK {
		t.Fatalf("exit %d, want 0; stderr %s", code, stderr)
	}
	for _, want := range []string{
		"--offline: the live lab is skipped",
		"$ hakeeper validate ",
		"valid (2 nodes, 3 VIP groups, 0 services)",
		"$ hakeeper show --node lb1 ",
		"Node lb1 of cluster demo",
		"$ hakeeper plan --offline --node lb1 ",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	for _, re := range []string{
		`web\s+51\s+10\.213\.0\.10/24\s+lb1 200 > lb2 100`,
		`api-b\s+53\s+10\.213\.0\.22/24\s+lb2 200 > lb1 100`,
		`10\.213\.0\.22\s+api-b\s+lb2`,
	} {
		if !regexp.MustCompile(re).MatchString(stdout) {
			t.Errorf("output does not match %s:\n%s", re, stdout)
		}
	}
	if strings.Contains(stdout, "Build a throwaway lab") {
		t.Errorf("offline demo started the live part:\n%s", stdout)
	}
	if left := netlab.Namespaces(fmt.Sprintf("%s%d-", demoNSPrefix, os.Getpid())); len(left) > 0 {
		t.Errorf("offline demo created namespaces %v", left)
	}
}

// TestDemoBadDir: an invalid --dir fails with the file and line, exit 1.
func TestDemoBadDir(t *testing.T) {
	code, stdout, stderr := runCLI(t, "demo", "--offline", "--dir", invalidPath)
	if code != exitError {
		t.Fatalf("exit %d, want 1; stdout %s", code, stdout)
	}
	if !regexp.MustCompile(`invalid\.yaml:\d+`).MatchString(stderr) {
		t.Errorf("stderr does not name file:line: %q", stderr)
	}
}

func mustCluster(t *testing.T, yaml string) *model.Cluster {
	t.Helper()
	c, err := model.Load([]model.File{{Name: "cluster.yaml", Data: []byte(yaml)}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const spreadTrio = `
cluster: t
nodes:
  a: {address: 192.0.2.1, interface: eth0}
  b: {address: 192.0.2.2, interface: eth0}
  c: {address: 192.0.2.3, interface: eth0}
vipGroups:
  g1: {vrid: 1, vips: [192.0.2.101/24]}
  g2: {vrid: 2, vips: [192.0.2.102/24]}
  g3: {vrid: 3, vips: [192.0.2.103/24]}
spread:
  s: {groups: [g1, g2, g3], nodes: [a, b, c]}
`

const tiedPair = `
cluster: t
nodes:
  a: {address: 192.0.2.1, interface: eth0}
  b: {address: 192.0.2.2, interface: eth0}
vipGroups:
  g: {vrid: 9, vips: [192.0.2.50/24], priorities: {a: 100, b: 100}}
`

// TestDemoExpected: the predicted holder is the running candidate with
// the highest priority, a tie going to the higher address (RFC 5798).
func TestDemoExpected(t *testing.T) {
	for _, tc := range []struct {
		desc string
		yaml string
		up   []string
		vip  string
		want string
	}{
		{"built-in, all up", string(demoClusterYAML), []string{"lb1", "lb2"}, "10.213.0.10", "lb1"},
		{"built-in, lb1 down", string(demoClusterYAML), []string{"lb2"}, "10.213.0.10", "lb2"},
		{"built-in, spread pair", string(demoClusterYAML), []string{"lb1", "lb2"}, "10.213.0.22", "lb2"},
		{"nobody up", string(demoClusterYAML), nil, "10.213.0.10", ""},
		{"tie: higher address", tiedPair, []string{"a", "b"}, "192.0.2.50", "b"},
		{"tie, higher down", tiedPair, []string{"a"}, "192.0.2.50", "a"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			l, err := demoLayoutOf(mustCluster(t, tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			up := map[string]bool{}
			for _, n := range tc.up {
				up[n] = true
			}
			if got := l.expected(up)[netip.MustParseAddr(tc.vip)]; got != tc.want {
				t.Errorf("holder of %s = %q, want %q", tc.vip, got, tc.want)
			}
		})
	}
}

// TestDemoEdit: the reconfiguration step moves the headline group's
// first VIP to another node and adds a free address, for each way a
// group can state its preference.
func TestDemoEdit(t *testing.T) {
	for _, tc := range []struct {
		desc     string
		yaml     string
		headline string
		changes  []string
	}{
		{"nodes list reversed", string(demoClusterYAML), "web",
			[]string{"vipGroups.web.nodes: [lb2, lb1] (was lb1 200 > lb2 100)", "vipGroups.web.vips: + 10.213.0.11/24"}},
		{"priorities reversed", strings.Replace(tiedPair, "{a: 100, b: 100}", "{a: 150, b: 50}", 1), "g",
			[]string{"vipGroups.g.nodes: [b, a] (was a 150 > b 50)", "vipGroups.g.vips: + 192.0.2.51/24"}},
		{"spread group pinned", spreadTrio, "g1",
			[]string{"spread.s.groups: - g1", "vipGroups.g1.vips: + 192.0.2.104/24"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			c := mustCluster(t, tc.yaml)
			l, err := demoLayoutOf(c)
			if err != nil {
				t.Fatal(err)
			}
			head, err := l.headline()
			if err != nil || head.name != tc.headline {
				t.Fatalf("headline %v, %v; want %s", head, err, tc.headline)
			}
			edited, changes, err := demoEdit(c, head, l)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.changes {
				if !slices.Contains(changes, w) {
					t.Errorf("changes %q lack %q", changes, w)
				}
			}
			el, err := demoLayoutOf(edited)
			if err != nil {
				t.Fatal(err)
			}
			vip := head.vips[0].Addr()
			before, after := l.expected(l.allNodes())[vip], el.expected(el.allNodes())[vip]
			if before == after {
				t.Errorf("%s stays on %s after the edit", vip, before)
			}
			added := strings.TrimPrefix(tc.changes[len(tc.changes)-1], "vipGroups."+tc.headline+".vips: + ")
			if a := netip.MustParsePrefix(added).Addr(); el.expected(el.allNodes())[a] != after {
				t.Errorf("the added VIP %s is not held with %s by %s", a, vip, after)
			}
			if again, _ := demoLayoutOf(c); again.expected(again.allNodes())[vip] != before {
				t.Errorf("the edit changed the original cluster")
			}
		})
	}
}

// demoBinary builds bin/hakeeper into dir: the live demo starts its
// nodes with os.Executable, which must be hakeeper, not the test binary.
func demoBinary(t *testing.T, dir string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
		if _, err := os.Stat(goBin); err != nil {
			t.Skip("needs the go command to build hakeeper")
		}
	}
	bin := filepath.Join(dir, "hakeeper")
	out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// demoNamespaces lists namespaces named after the demo process pid.
func demoNamespaces(pid int) []string {
	return netlab.Namespaces(fmt.Sprintf("%s%d-", demoNSPrefix, pid))
}

// TestDemoLive runs the real binary as root: the whole demo end to end,
// an unprivileged user's fallback, and Ctrl-C in the middle.
func TestDemoLive(t *testing.T) {
	netns.Skip(t)
	dir := t.TempDir()
	bin := demoBinary(t, dir)

	t.Run("end to end", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		var stdout, stderr bytes.Buffer
		// A pace, as a person sees it: the election must still be timed
		// from the start, not from after the pause before its step.
		cmd := exec.CommandContext(ctx, bin, "demo", "--pace", "400ms")
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		out := stdout.String()
		if err != nil {
			t.Fatalf("demo: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
		}
		if left := demoNamespaces(cmd.Process.Pid); len(left) > 0 {
			t.Errorf("namespaces left behind: %v", left)
		}
		election := section(out, "4/9", "5/9")
		// A node starts as backup and waits Master_Down_Interval (3 of the
		// built-in cluster's 100 ms adverts plus skew) before it is master.
		if m := regexp.MustCompile(`became master (\d+) ms after start`).FindStringSubmatch(election); m == nil {
			t.Errorf("election step does not say when the masters were elected:\n%s", election)
		} else if ms, _ := strconv.Atoi(m[1]); ms < 300 {
			t.Errorf("election reported %d ms after start, less than 3 adverts of 100 ms:\n%s", ms, election)
		}
		for _, re := range []string{`10\.213\.0\.10\s+web\s+lb1\n`, `10\.213\.0\.21\s+api-a\s+lb1\n`, `10\.213\.0\.22\s+api-b\s+lb2\n`} {
			if !regexp.MustCompile(re).MatchString(election) {
				t.Errorf("election table does not match %s:\n%s", re, election)
			}
		}
		reconf := section(out, "8/9", "9/9")
		for _, re := range []string{`10\.213\.0\.10\s+web\s+lb2\n`, `10\.213\.0\.11\s+web\s+lb2\n`, `10\.213\.0\.21\s+api-a\s+lb1\n`} {
			if !regexp.MustCompile(re).MatchString(reconf) {
				t.Errorf("table after the edit does not match %s:\n%s", re, reconf)
			}
		}
		for _, tc := range []struct{ event, moved string }{
			{`crash failover \(SIGKILL\)`, `10\.213\.0\.10 lb1 -> lb2`},
			{`preemption after restart`, `10\.213\.0\.10 lb2 -> lb1`},
			{`graceful handover \(SIGTERM\)`, `10\.213\.0\.10 lb1 -> lb2`},
			{`reconfiguration \(edit \+ SIGHUP\)`, `10\.213\.0\.10 lb1 -> lb2, 10\.213\.0\.11 added`},
		} {
			m := regexp.MustCompile(tc.event + `\s+` + tc.moved + `\s+(\d+) ms`).FindStringSubmatch(out)
			if m == nil {
				t.Errorf("summary lacks %s %s with a time:\n%s", tc.event, tc.moved, out)
				continue
			}
			if ms, _ := strconv.Atoi(m[1]); ms <= 0 {
				t.Errorf("%s measured %s ms", tc.event, m[1])
			}
		}
		if !strings.Contains(out, "stale: its hakeeper is dead") {
			t.Errorf("crash step does not show the crashed node's stale VIPs:\n%s", out)
		}
	})

	t.Run("unprivileged user", func(t *testing.T) {
		// nobody must reach the binary through the test's 0700 temp dirs.
		for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
			os.Chmod(d, 0o755)
		}
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(bin, "demo")
		cmd.Dir = "/"
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TMPDIR=" + os.TempDir()}
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		if err := cmd.Run(); err != nil {
			t.Fatalf("demo as nobody: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
		}
		out := stdout.String()
		for _, want := range []string{"needs root (CAP_NET_ADMIN)", "valid (2 nodes, 3 VIP groups, 0 services)", "$ hakeeper plan --offline --node lb1 "} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "Build a throwaway lab") {
			t.Errorf("unprivileged demo tried the live part:\n%s", out)
		}
	})

	t.Run("interrupted", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "demo", "--pace", "500ms")
		pipe, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var seen bytes.Buffer
		sc := bufio.NewScanner(pipe)
		interrupted := false
		for sc.Scan() {
			seen.WriteString(sc.Text() + "\n")
			// Interrupt once the daemons run: the teardown must stop them.
			if !interrupted && strings.Contains(sc.Text(), "== 4/9") {
				if n := demoNamespaces(cmd.Process.Pid); len(n) != 3 {
					t.Errorf("before the interrupt: namespaces %v, want 3", n)
				}
				cmd.Process.Signal(os.Interrupt)
				interrupted = true
			}
		}
		err = cmd.Wait()
		if !interrupted {
			t.Fatalf("demo never reached step 4:\n%s\n%s", seen.String(), stderr.String())
		}
		if code := cmd.ProcessState.ExitCode(); code != exitInterrupted {
			t.Errorf("exit %d (%v), want %d\n%s\n%s", code, err, exitInterrupted, seen.String(), stderr.String())
		}
		if !strings.Contains(seen.String(), "nothing of the lab is left") {
			t.Errorf("no teardown after the interrupt:\n%s", seen.String())
		}
		if left := demoNamespaces(cmd.Process.Pid); len(left) > 0 {
			t.Errorf("namespaces left behind: %v", left)
		}
		if out, _ := exec.Command("ps", "-eo", "args").Output(); bytes.Contains(out, []byte(bin+" run --node")) {
			t.Errorf("hakeeper run still running after the interrupt")
		}
	})
}

// section returns the output from the line starting with header "== from"
// to the one of "== to".
func section(out, from, to string) string {
	i := strings.Index(out, "== "+from)
	if i < 0 {
		return ""
	}
	rest := out[i:]
	if j := strings.Index(rest, "== "+to); j >= 0 {
		return rest[:j]
	}
	return rest
}

// TestDemoLVSOffline: demo --lvs without the live lab shows the LVS
// cluster's services and the offline part for director1, and exits 0.
func TestDemoLVSOffline(t *testing.T) {
	code, stdout, stderr := runCLI(t, "demo", "--lvs", "--offline")
	if code != exitOK {
		t.Fatalf("exit %d, want 0; stderr %s", code, stderr)
	}
	for _, want := range []string{
		"fwmark 21 = 192.0.2.102:21,10000",
		"valid (4 nodes, 1 VIP group, 3 services)",
		"$ hakeeper plan --offline --node director1 ",
		"+ fwmark-rule tcp 192.0.2.102 port 21 mark 21",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if code, _, stderr := runCLI(t, "demo", "--lvs", "--dir", "x"); code != exitError || !strings.Contains(stderr, "--lvs") {
		t.Errorf("--lvs with --dir: exit %d, %s", code, stderr)
	}
}
