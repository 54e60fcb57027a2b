package main

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hakeeper/hakeeper/lvs"
	"github.com/hakeeper/hakeeper/lvs/lvstest"
	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/reconcile/status"
)

const observeCluster = `cluster: obs
nodes:
  lb1: {address: 192.0.2.1, interface: hkl-none0}
vipGroups:
  web:
    vrid: 51
    vips: [192.0.2.100/32]
    nodes: [lb1]
services:
  http:
    vip: 192.0.2.100
    port: 80
    check: {tcp: {}}
    realServers:
      - {address: 198.51.100.1}
      - {address: 198.51.100.2}
`

// daemonProvider serves a fixed report and the desired state as running.
type daemonProvider struct {
	report  *status.Report
	running *model.NodeState
}

func (p daemonProvider) Status() *status.Report    { return p.report }
func (p daemonProvider) Running() *model.NodeState { return p.running }
func (p daemonProvider) Degradation() string       { return p.report.Degraded }

// Live `hakeeper plan` plans the IPVS side with the daemon's health: a
// server the daemon took out as down is not a pending "+ real-server";
// without a daemon every server is assumed up, and the plan says so.
func TestPlanUsesDaemonHealth(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "cluster.yaml")
	if err := os.WriteFile(file, []byte(observeCluster), 0o644); err != nil {
		t.Fatal(err)
	}
	desired, err := desiredFor(file, "lb1", nil)
	if err != nil {
		t.Fatal(err)
	}
	// IPVS as the daemon left it: 198.51.100.2 failed its check and is out.
	ipvs := &lvstest.Fake{}
	ownedPath := filepath.Join(dir, "ipvs-owned.json")
	table := lvs.TableFromModel(desired.Services)
	table[0].Destinations = table[0].Destinations[:1]
	if _, _, err := (&lvs.Programmer{IPVS: ipvs, StatePath: ownedPath}).Sync(table); err != nil {
		t.Fatal(err)
	}
	report := &status.Report{Node: "lb1", Healthy: true, Services: []status.Service{{Name: "http", Key: "tcp/192.0.2.100:80",
		RealServers: []status.RealServer{
			{Address: "198.51.100.1:80", Health: "up", InIPVS: true, Weight: 1},
			{Address: "198.51.100.2:80", Health: "down"},
		}}}}
	srv := httptest.NewServer(status.Handler(daemonProvider{report: report, running: desired}, nil, nil))
	defer srv.Close()

	daemon := strings.TrimPrefix(srv.URL, "http://")
	withFakeIPVS(t, ipvs)
	t.Setenv("HAKEEPER_ADDR", daemon)
	writesBefore := ipvs.Writes

	code, stdout, stderr := runCLI(t, "plan", "--node", "lb1", "--state-dir", dir, file)
	if code != exitOK || strings.Contains(stdout, "198.51.100.2") {
		t.Errorf("daemon reports 198.51.100.2 down: exit %d, want 0 and no change for it:\n%s%s", code, stdout, stderr)
	}
	if strings.Contains(stderr, "assumed up") {
		t.Errorf("health assumed although the daemon answered: %s", stderr)
	}

	// Back up in the daemon's eyes: now it is a pending add.
	report.Services[0].RealServers[1].Health = "up"
	code, stdout, _ = runCLI(t, "plan", "--node", "lb1", "--state-dir", dir, file)
	if code != exitChanges || !strings.Contains(stdout, "198.51.100.2") {
		t.Errorf("daemon reports 198.51.100.2 up: exit %d, want 2 with it added:\n%s", code, stdout)
	}

	// No daemon: health is assumed up, and the output says so.
	t.Setenv("HAKEEPER_ADDR", "127.0.0.1:1")
	code, stdout, stderr = runCLI(t, "plan", "--node", "lb1", "--state-dir", dir, file)
	if code != exitChanges || !strings.Contains(stdout, "198.51.100.2") || !strings.Contains(stderr, "every real server is assumed up") {
		t.Errorf("no daemon: exit %d, stdout:\n%s\nstderr: %s", code, stdout, stderr)
	}
	// A daemon listening elsewhere (run --listen unix:/path) is found
	// with --addr.
	code, stdout, stderr = runCLI(t, "plan", "--node", "lb1", "--state-dir", dir, "--addr", daemon, file)
	if code != exitChanges || !strings.Contains(stdout, "198.51.100.2") || strings.Contains(stderr, "not running") {
		t.Errorf("plan --addr at the daemon: exit %d, stdout:\n%s\nstderr: %s", code, stdout, stderr)
	}
	if ipvs.Writes != writesBefore {
		t.Errorf("plan wrote to IPVS (%d writes)", ipvs.Writes-writesBefore)
	}
}

func TestEffectiveServices(t *testing.T) {
	desired, err := desiredFor(writeTemp(t, strings.Replace(observeCluster, "check: {tcp: {}}", "check: {tcp: {}}\n    drain: true\n    startDown: true", 1)), "lb1", nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		desc    string
		health  map[serverKey]string
		weights string // address=weight of the servers programmed
	}{
		{desc: "no daemon: all up", health: nil, weights: "198.51.100.1:80=1 198.51.100.2:80=1"},
		{desc: "one down, drained", health: map[serverKey]string{{"tcp/192.0.2.100:80", "198.51.100.1:80"}: "up", {"tcp/192.0.2.100:80", "198.51.100.2:80"}: "down"},
			weights: "198.51.100.1:80=1 198.51.100.2:80=0"},
		{desc: "unknown to the daemon with startDown: down", health: map[serverKey]string{{"tcp/192.0.2.100:80", "198.51.100.1:80"}: "up"},
			weights: "198.51.100.1:80=1 198.51.100.2:80=0"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			var got []string
			for _, rs := range effectiveServices(desired.Services, tc.health)[0].RealServers {
				got = append(got, fmt.Sprintf("%s:%d=%d", rs.Address, rs.Port, rs.Weight))
			}
			if strings.Join(got, " ") != tc.weights {
				t.Errorf("got %v, want %s", got, tc.weights)
			}
		})
	}
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Live plan reads IPVS ownership from the state directory the running
// daemon reports, so the daemon's services are not planned as someone
// else's; --state-dir overrides it.
func TestPlanReadsOwnershipFromDaemonStateDir(t *testing.T) {
	file := writeTemp(t, observeCluster)
	desired, err := desiredFor(file, "lb1", nil)
	if err != nil {
		t.Fatal(err)
	}
	daemonDir, otherDir := t.TempDir(), t.TempDir()
	ipvs := &lvstest.Fake{}
	if _, _, err := (&lvs.Programmer{IPVS: ipvs, StatePath: filepath.Join(daemonDir, "ipvs-owned.json")}).Sync(lvs.TableFromModel(desired.Services)); err != nil {
		t.Fatal(err)
	}
	report := &status.Report{Node: "lb1", Healthy: true, StateDir: daemonDir}
	srv := httptest.NewServer(status.Handler(daemonProvider{report: report, running: desired}, nil, nil))
	defer srv.Close()
	withFakeIPVS(t, ipvs)

	code, stdout, errOut := runCLI(t, "plan", "--node", "lb1", "--addr", strings.TrimPrefix(srv.URL, "http://"), file)
	if code != exitOK || strings.Contains(stdout, "Not managed") {
		t.Errorf("daemon's state dir: exit %d, want 0 and its services its own:\n%s%s", code, stdout, errOut)
	}
	// Pointed at a directory without the records, the same table is foreign.
	_, stdout, errOut = runCLI(t, "plan", "--node", "lb1", "--addr", strings.TrimPrefix(srv.URL, "http://"), "--state-dir", otherDir, file)
	if !strings.Contains(stdout, "Not managed by hakeeper") || !strings.Contains(stdout, "tcp/192.0.2.100:80") {
		t.Errorf("--state-dir without ownership records: want the service listed as not hakeeper's:\n%s%s", stdout, errOut)
	}
}

func TestDefaultStateDirFor(t *testing.T) {
	for _, tc := range []struct{ desc, source, node, want string }{
		{"local file", "/etc/hakeeper/cluster.yaml", "lb1", "/run/hakeeper/lb1"},
		{"local dir", "./cluster", "lb2", "/run/hakeeper/lb2"},
		{"https", "https://git.example.com/ops/ha.git", "lb1", "/var/lib/hakeeper"},
		{"scp-like", "git@git.example.com:ops/ha.git", "lb1", "/var/lib/hakeeper"},
	} {
		if got := defaultStateDirFor(tc.source, tc.node); got != tc.want {
			t.Errorf("%s: defaultStateDirFor(%q, %q) = %q, want %q", tc.desc, tc.source, tc.node, got, tc.want)
		}
	}
}

// Live plan compares tracked checks and sync groups with the ones the
// running daemon reports: equal ones are in sync, a changed command or
// notify hook is an update.
func TestPlanComparesDaemonsChecksAndSyncGroups(t *testing.T) {
	file := writeTemp(t, `cluster: obs
nodes:
  lb1: {address: 192.0.2.1, interface: hkl-none0}
checks:
  haproxy: {command: [/usr/bin/pgrep, haproxy], weight: -20}
vipGroups:
  web: {vrid: 51, vips: [192.0.2.100/32], nodes: [lb1], trackChecks: [{check: haproxy}]}
  api: {vrid: 52, vips: [192.0.2.101/32], nodes: [lb1]}
syncGroups:
  edge: {groups: [web, api], notify: {master: /usr/local/bin/edge-master}}
`)
	desired, err := desiredFor(file, "lb1", nil)
	if err != nil {
		t.Fatal(err)
	}
	running := *desired
	srv := httptest.NewServer(status.Handler(daemonProvider{report: &status.Report{Node: "lb1", Healthy: true}, running: &running}, nil, nil))
	defer srv.Close()
	withFakeIPVS(t, &lvstest.Fake{})
	plan := []string{"plan", "--node", "lb1", "--addr", strings.TrimPrefix(srv.URL, "http://"), "--state-dir", t.TempDir(), file}

	if code, stdout, stderr := runCLI(t, plan...); code != exitOK {
		t.Errorf("daemon runs the description: exit %d, want 0:\n%s%s", code, stdout, stderr)
	}

	running.Checks = []model.TrackCheckSpec{desired.Checks[0]}
	running.Checks[0].Command = model.Command{Argv: []string{"/usr/bin/pgrep", "nginx"}}
	running.SyncGroups = []model.SyncGroupSpec{desired.SyncGroups[0]}
	running.SyncGroups[0].Notify.Master = model.Command{Shell: "/usr/local/bin/old-hook"}
	code, stdout, stderr := runCLI(t, plan...)
	for _, want := range []string{
		"~ tracked-check haproxy\n      command = /usr/bin/pgrep nginx -> /usr/bin/pgrep haproxy\n",
		"~ sync-group edge\n      notify.master = /usr/local/bin/old-hook -> /usr/local/bin/edge-master\n",
		"Plan: 0 to add, 2 to change, 0 to destroy.",
	} {
		if code != exitChanges || !strings.Contains(stdout, want) {
			t.Errorf("daemon runs another check command and hook: exit %d, want 2 and %q in:\n%s%s", code, want, stdout, stderr)
		}
	}
}
