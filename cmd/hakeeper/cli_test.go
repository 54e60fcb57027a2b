package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hakeeper/hakeeper/lvs"
	"github.com/hakeeper/hakeeper/lvs/lvstest"
	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/reconcile/plan"
	"github.com/hakeeper/hakeeper/reconcile/status"
)

const (
	demoPath    = "testdata/demo"
	invalidPath = "testdata/invalid.yaml"
)

// runCLI executes the CLI in-process and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := execute(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// onHost makes the machine look like it has the given addresses and
// hostname while a test runs, for the default node choice.
func onHost(t *testing.T, addrs []string, host string) {
	t.Helper()
	oldAddrs, oldHost := interfaceAddrs, hostname
	t.Cleanup(func() { interfaceAddrs, hostname = oldAddrs, oldHost })
	interfaceAddrs = func() ([]net.Addr, error) {
		var out []net.Addr
		for _, a := range addrs {
			ip, ipnet, err := net.ParseCIDR(a)
			if err != nil {
				t.Fatal(err)
			}
			ipnet.IP = ip
			out = append(out, ipnet)
		}
		return out, nil
	}
	hostname = func() (string, error) { return host, nil }
}

func TestValidate(t *testing.T) {
	tests := []struct {
		desc       string
		path       string
		code       int
		stdout     string
		stderrHas  []string
		stderrNot  string
		errorLines int
	}{
		{
			desc:   "valid directory",
			path:   demoPath,
			code:   exitOK,
			stdout: "testdata/demo: valid (2 nodes, 1 VIP group, 1 service)\n",
		},
		{
			desc:      "valid file",
			path:      demoPath + "/cluster.yaml",
			code:      exitOK,
			stdout:    "testdata/demo/cluster.yaml: valid (2 nodes, 1 VIP group, 1 service)\n",
			stderrHas: nil,
		},
		{
			desc: "unknown field names file, line and field, beside the semantic errors",
			path: invalidPath,
			code: exitError,
			stderrHas: []string{"testdata/invalid.yaml:15:5: services.web-http.schedular: ", "scheduler",
				"testdata/invalid.yaml:8:5: vipGroups.web.vrid: ", "\nhakeeper: testdata/invalid.yaml: invalid (3 errors)\n"},
			errorLines: 3,
		},
		{
			desc:       "every semantic error on its own line",
			path:       "testdata/invalid-semantic.yaml",
			code:       exitError,
			stderrHas:  []string{"testdata/invalid-semantic.yaml:8:", "vipGroups.web.vrid: ", "testdata/invalid-semantic.yaml:10:", "lb9", "invalid (2 errors)"},
			errorLines: 2,
		},
		{
			desc:      "missing path says so, not invalid",
			path:      "testdata/no-such-file.yaml",
			code:      exitError,
			stderrHas: []string{"hakeeper: stat testdata/no-such-file.yaml: no such file or directory\n"},
			stderrNot: "invalid",
		},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "validate", tc.path)
			if code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, stderr)
			}
			if tc.stdout != "" && stdout != tc.stdout {
				t.Errorf("stdout %q, want %q", stdout, tc.stdout)
			}
			for _, s := range tc.stderrHas {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr)
				}
			}
			if tc.stderrNot != "" && strings.Contains(stderr, tc.stderrNot) {
				t.Errorf("stderr has %q:\n%s", tc.stderrNot, stderr)
			}
			if tc.errorLines > 0 {
				// One line per error plus the "invalid (N errors)" line.
				if n := strings.Count(stderr, "\n"); n != tc.errorLines+1 {
					t.Errorf("stderr has %d lines, want %d:\n%s", n, tc.errorLines+1, stderr)
				}
			}
		})
	}
}

func TestPlan(t *testing.T) {
	t.Run("offline plan creates everything and exits 2", func(t *testing.T) {
		code, stdout, stderr := runCLI(t, "plan", "--offline", "--node", "lb1", demoPath)
		if code != exitChanges {
			t.Fatalf("exit %d, want %d; stderr %s", code, exitChanges, stderr)
		}
		for _, s := range []string{"on node lb1:", "# VIP group web", "+ vrrp-instance vrid 51 on eth0 (ipv4)", "priority       = 200",
			"+ service tcp 192.0.2.10:80", "+ real-server 198.51.100.12:80", "Plan: 4 to add, 0 to change, 0 to destroy.\n"} {
			if !strings.Contains(stdout, s) {
				t.Errorf("plan lacks %q:\n%s", s, stdout)
			}
		}
		if strings.Contains(stdout, "\x1b[") {
			t.Errorf("colour escapes in output to a non-terminal")
		}
	})
	t.Run("--color forces colour", func(t *testing.T) {
		_, stdout, _ := runCLI(t, "plan", "--offline", "--color", "--node", "lb1", demoPath)
		if !strings.Contains(stdout, "\x1b[32m+\x1b[0m vrrp-instance") {
			t.Errorf("no green create marker:\n%q", stdout)
		}
	})
	t.Run("JSON", func(t *testing.T) {
		code, stdout, _ := runCLI(t, "plan", "--offline", "--json", "--node", "lb2", demoPath)
		if code != exitChanges {
			t.Fatalf("exit %d, want %d", code, exitChanges)
		}
		var got struct {
			FormatVersion int          `json:"formatVersion"`
			Node          string       `json:"node"`
			Summary       plan.Summary `json:"summary"`
			Changes       []plan.Change
		}
		if err := json.Unmarshal([]byte(stdout), &got); err != nil {
			t.Fatalf("%v in %s", err, stdout)
		}
		if got.FormatVersion != 1 || got.Node != "lb2" || got.Summary != (plan.Summary{Add: 4}) || len(got.Changes) != 4 {
			t.Errorf("plan JSON = %+v", got)
		}
	})
	t.Run("live state equal to desired exits 0", func(t *testing.T) {
		// A daemon running the description, and IPVS as it programmed it.
		desired, err := desiredFor(demoPath, "lb1", nil)
		if err != nil {
			t.Fatal(err)
		}
		stateDir, ipvs := t.TempDir(), &lvstest.Fake{}
		prog := &lvs.Programmer{IPVS: ipvs, StatePath: filepath.Join(stateDir, "ipvs-owned.json")}
		if _, _, err := prog.Sync(lvs.TableFromModel(desired.Services)); err != nil {
			t.Fatal(err)
		}
		withFakeIPVS(t, ipvs)
		srv := httptest.NewServer(status.Handler(daemonProvider{report: &status.Report{Node: "lb1", Healthy: true}, running: desired}, nil, nil))
		defer srv.Close()
		code, stdout, stderr := runCLI(t, "plan", "--node", "lb1", "--addr", strings.TrimPrefix(srv.URL, "http://"), "--state-dir", stateDir, demoPath)
		if code != exitOK || stdout != "No changes. The node is in sync.\n" {
			t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}
	})
	t.Run("live state that cannot be observed exits 1", func(t *testing.T) {
		// A daemon that has applied no configuration yet cannot say what it runs.
		srv := httptest.NewServer(status.Handler(daemonProvider{report: &status.Report{Node: "lb1"}}, nil, nil))
		defer srv.Close()
		code, _, stderr := runCLI(t, "plan", "--node", "lb1", "--addr", strings.TrimPrefix(srv.URL, "http://"), demoPath)
		if code != exitError || !strings.Contains(stderr, "no configuration applied yet") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("invalid description exits 1 with the errors", func(t *testing.T) {
		code, _, stderr := runCLI(t, "plan", "--offline", "--node", "lb1", invalidPath)
		if code != exitError || !strings.Contains(stderr, "invalid.yaml:15:5") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("unknown node lists the nodes", func(t *testing.T) {
		code, _, stderr := runCLI(t, "plan", "--offline", "--node", "lb7", demoPath)
		if code != exitError || !strings.Contains(stderr, `node "lb7" is not in the cluster description (nodes: lb1, lb2)`) {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
}

func TestDefaultNode(t *testing.T) {
	tests := []struct {
		desc     string
		addrs    []string
		host     string
		wantNode string
		wantErr  string
	}{
		{desc: "a node address is local", addrs: []string{"127.0.0.1/8", "192.0.2.2/24"}, host: "lb1", wantNode: "lb2"},
		{desc: "hostname matches", addrs: []string{"127.0.0.1/8"}, host: "lb1", wantNode: "lb1"},
		{desc: "short hostname matches", host: "lb2.example.net", wantNode: "lb2"},
		{desc: "neither", addrs: []string{"203.0.113.9/24"}, host: "db1", wantErr: "choose one with --node (nodes: lb1, lb2)"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			onHost(t, tc.addrs, tc.host)
			code, stdout, stderr := runCLI(t, "show", demoPath)
			if tc.wantErr != "" {
				if code != exitError || !strings.Contains(stderr, tc.wantErr) {
					t.Errorf("exit %d, stderr %q; want 1 and %q", code, stderr, tc.wantErr)
				}
				return
			}
			if code != exitOK || !strings.HasPrefix(stdout, "Node "+tc.wantNode+" of cluster demo\n") {
				t.Errorf("exit %d, output starts %q; want node %s (stderr %q)", code, firstLine(stdout), tc.wantNode, stderr)
			}
		})
	}
}

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\n"); return l }

func TestShow(t *testing.T) {
	code, stdout, stderr := runCLI(t, "show", "--node", "lb2", demoPath)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, s := range []string{"VIP group web", "priority here    100", "preference       lb1 200 > lb2 100 (this node)",
		"next master      lb2 (this node), if lb1 fails", "Service web-http  tcp 192.0.2.10:80", "198.51.100.11:80  weight 1  check http GET /healthz"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("show lacks %q:\n%s", s, stdout)
		}
	}

	code, stdout, _ = runCLI(t, "show", "--node", "lb1", "--json", demoPath)
	var ns model.NodeState
	if err := json.Unmarshal([]byte(stdout), &ns); code != exitOK || err != nil {
		t.Fatalf("exit %d, %v", code, err)
	}
	if ns.Node != "lb1" || len(ns.Instances) != 1 || ns.Instances[0].Priority != 200 || len(ns.Services) != 1 || len(ns.Services[0].RealServers) != 2 {
		t.Errorf("show --json = %+v", ns)
	}

	code, stdout, _ = runCLI(t, "show", "--list-nodes", demoPath)
	if code != exitOK || stdout != "lb1\nlb2\n" {
		t.Errorf("--list-nodes: exit %d, %q", code, stdout)
	}
}

func TestCompletion(t *testing.T) {
	for shell, marker := range map[string]string{
		"bash": "__start_hakeeper",
		"zsh":  "#compdef hakeeper",
		"fish": "complete -c hakeeper",
	} {
		t.Run(shell, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "completion", shell)
			if code != exitOK || !strings.Contains(stdout, marker) {
				t.Errorf("exit %d, stderr %q, output lacks %q", code, stderr, marker)
			}
		})
	}
}

func TestHelpHasExamples(t *testing.T) {
	for _, name := range []string{"", "validate", "plan", "show", "version"} {
		args := []string{"--help"}
		if name != "" {
			args = []string{name, "--help"}
		}
		code, stdout, _ := runCLI(t, args...)
		if code != exitOK || !strings.Contains(stdout, "Examples:") {
			t.Errorf("hakeeper %s --help: exit %d, no examples:\n%s", name, code, stdout)
		}
	}
	code, stdout, _ := runCLI(t, "version")
	if code != exitOK || !strings.HasPrefix(stdout, "hakeeper dev (") {
		t.Errorf("version: exit %d, %q", code, stdout)
	}
}

// TestBinaryExitCodes builds the real binary and checks the exit codes a
// shell script or CI job sees.
func TestBinaryExitCodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "hakeeper")
	build := exec.Command(goBin, "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	tests := []struct {
		args []string
		code int
	}{
		{[]string{"validate", demoPath}, 0},
		{[]string{"validate", invalidPath}, 1},
		{[]string{"plan", "--offline", "--node", "lb1", demoPath}, 2},
		{[]string{"plan", "--node", "lb1", demoPath}, 2}, // live: nothing runs here, so changes are pending
		{[]string{"show", "--node", "lb1", demoPath}, 0},
		{[]string{"no-such-command"}, 1},
	}
	for _, tc := range tests {
		cmd := exec.Command(bin, tc.args...)
		out, err := cmd.CombinedOutput()
		code := 0
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			code = exitErr.ExitCode()
		} else if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if code != tc.code {
			t.Errorf("hakeeper %s: exit %d, want %d\n%s", strings.Join(tc.args, " "), code, tc.code, out)
		}
	}
}

func TestSchema(t *testing.T) {
	code, stdout, _ := runCLI(t, "schema")
	var doc map[string]any
	if err := json.Unmarshal([]byte(stdout), &doc); code != exitOK || err != nil {
		t.Fatalf("exit %d, %v", code, err)
	}
	if doc["$id"] == nil || doc["properties"] == nil {
		t.Errorf("schema lacks $id or properties: %.200s", stdout)
	}
}
