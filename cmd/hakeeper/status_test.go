package main

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/reconcile/status"
)

type fixedProvider struct{ r *status.Report }

func (p fixedProvider) Status() *status.Report    { return p.r }
func (p fixedProvider) Running() *model.NodeState { return &model.NodeState{Node: p.r.Node} }
func (p fixedProvider) Degradation() string       { return p.r.Degraded }

func TestStatusCommand(t *testing.T) {
	now := time.Now()
	r := &status.Report{Node: "lb1", Cluster: "demo", Source: "git:https://git.example/ha.git branch main", Healthy: false,
		Applied:   &status.Revision{ID: "0123456789abcdef0123456789abcdef01234567", Summary: "add web", At: now.Add(-time.Minute)},
		Fetched:   &status.Revision{ID: "fedcba9876543210fedcba9876543210fedcba98", At: now},
		LastError: &status.Failure{Time: now, Revision: "fedcba9876543210fedcba9876543210fedcba98", Stage: "load", Message: "cluster.yaml:7:5: vipGroups.web.vrid: 300 is out of range 1-255"},
		VIPGroups: []status.VIPGroup{{Name: "web", Interface: "eth0", VRID: 51, State: "master", Priority: 200, BasePriority: 200,
			Master: "192.0.2.1", VIPs: []status.VIP{{Address: "192.0.2.100/24", Device: "eth0", Present: true}}}},
		Services: []status.Service{{Name: "http", Key: "tcp/192.0.2.100:80", RealServers: []status.RealServer{
			{Address: "198.51.100.1:80", Health: "up", Weight: 5, InIPVS: true, LastResult: "pass"},
			{Address: "198.51.100.2:80", Health: "down", LastResult: "connection refused"}}}},
	}
	srv := httptest.NewServer(status.Handler(fixedProvider{r}, nil, nil))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	code, stdout, _ := runCLI(t, "status", "--addr", addr)
	if code != exitChanges {
		t.Errorf("degraded node: exit %d, want %d", code, exitChanges)
	}
	for _, want := range []string{"lb1", "0123456789ab \"add web\"", "fedcba987654", "(not applied)", "DEGRADED",
		"load revision fedcba987654: cluster.yaml:7:5", "MASTER", "200/200", "192.0.2.100/24 (here)",
		"198.51.100.1:80", "connection refused"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("status output lacks %q:\n%s", want, stdout)
		}
	}
	r.Healthy = true
	code, stdout, _ = runCLI(t, "status", "--addr", addr, "--json")
	if code != exitOK || !strings.Contains(stdout, `"vrid": 51`) {
		t.Errorf("json: exit %d\n%s", code, stdout)
	}
	code, _, stderr := runCLI(t, "status", "--addr", "127.0.0.1:1")
	if code != exitError || !strings.Contains(stderr, "not running") {
		t.Errorf("nothing running: exit %d, %q", code, stderr)
	}
}

func TestApplyCommand(t *testing.T) {
	dir := t.TempDir()
	noServices := filepath.Join(dir, "c.yaml")
	os.WriteFile(noServices, []byte("cluster: x\nnodes:\n  a:\n    address: 10.0.0.1\n    interface: eth0\nvipGroups:\n  web:\n    vrid: 30\n    vips: [10.0.0.10/24]\n    nodes: [a]\n"), 0o644)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("cluster: x\nnodes:\n  a:\n    address: 10.0.0.1\n    interface: eth0\nvipGroups:\n  web:\n    vrid: 300\n    vips: [10.0.0.10/24]\n    nodes: [a]\n"), 0o644)
	t.Setenv("HAKEEPER_ADDR", "127.0.0.1:1") // no daemon

	code, stdout, stderr := runCLI(t, "apply", "--addr", "127.0.0.1:1", "--node", "a", noServices)
	if code != exitOK || !strings.Contains(stdout, "nothing to apply") || !strings.Contains(stderr, "1 VRRP instance") {
		t.Errorf("no services: exit %d, %q, %q", code, stdout, stderr)
	}
	code, _, stderr = runCLI(t, "apply", "--addr", "127.0.0.1:1", "--node", "a", bad)
	if code != exitError || !strings.Contains(stderr, "bad.yaml:8:") {
		t.Errorf("bad description: exit %d, %q", code, stderr)
	}
	// Beside a running daemon apply refuses.
	srv := httptest.NewServer(status.Handler(fixedProvider{&status.Report{Node: "a"}}, nil, nil))
	defer srv.Close()
	code, _, stderr = runCLI(t, "apply", "--addr", strings.TrimPrefix(srv.URL, "http://"), "--node", "a", noServices)
	if code != exitError || !strings.Contains(stderr, "hakeeper run is running") {
		t.Errorf("beside a daemon: exit %d, %q", code, stderr)
	}
}
