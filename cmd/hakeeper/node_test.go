package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hakeeper/hakeeper/reconcile/source"
)

// nodeRuleCluster has two nodes and no virtual services, so apply can
// choose a node and finish without touching IPVS.
const nodeRuleCluster = `cluster: pair
nodes:
  lb1:
    address: 192.0.2.1
    interface: eth0
  lb2:
    address: 192.0.2.2
    address6: 2001:db8::2
    interface: eth0
vipGroups:
  web:
    vrid: 51
    vips: [192.0.2.10/24]
    nodes: [lb1, lb2]
`

// TestNodeRule: run, apply, plan and show choose the node by one rule:
// --node, else the node whose address is local (several: an error),
// else the hostname, else an error listing the nodes.
func TestNodeRule(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cluster.yaml")
	if err := os.WriteFile(path, []byte(nodeRuleCluster), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		desc     string
		flag     string
		addrs    []string
		host     string
		wantNode string
		wantErr  string
	}{
		{desc: "explicit flag wins over address and hostname", flag: "lb2", addrs: []string{"192.0.2.1/24"}, host: "lb1", wantNode: "lb2"},
		{desc: "local address", addrs: []string{"127.0.0.1/8", "2001:db8::2/64"}, host: "lb1", wantNode: "lb2"},
		{desc: "hostname fallback", addrs: []string{"203.0.113.9/24"}, host: "lb1.example.net", wantNode: "lb1"},
		{desc: "several local addresses are ambiguous", addrs: []string{"192.0.2.1/24", "192.0.2.2/24"}, host: "lb1",
			wantErr: "the addresses of several nodes are local (lb1, lb2); choose one with --node"},
		{desc: "no match", addrs: []string{"203.0.113.9/24"}, host: "db1",
			wantErr: "choose one with --node (nodes: lb1, lb2)"},
	}
	// Each command's own way of naming the node it chose.
	commands := []struct {
		name string
		args []string
		node *regexp.Regexp
	}{
		{"show", []string{"show"}, regexp.MustCompile(`(?m)^Node (\S+) of cluster pair$`)},
		{"plan", []string{"plan", "--offline"}, regexp.MustCompile(`on node (\S+):`)},
		{"apply", []string{"apply", "--addr", "unix:" + filepath.Join(dir, "no-daemon.sock")}, regexp.MustCompile(`Node (\S+): no virtual services`)},
	}
	for _, tc := range cases {
		for _, c := range commands {
			t.Run(c.name+"/"+tc.desc, func(t *testing.T) {
				onHost(t, tc.addrs, tc.host)
				args := append([]string{}, c.args...)
				if tc.flag != "" {
					args = append(args, "--node", tc.flag)
				}
				code, stdout, stderr := runCLI(t, append(args, path)...)
				if tc.wantErr != "" {
					if code != exitError || !strings.Contains(stderr, tc.wantErr) {
						t.Errorf("exit %d, stderr %q; want 1 and %q", code, stderr, tc.wantErr)
					}
					return
				}
				m := c.node.FindStringSubmatch(stdout)
				if code == exitError || m == nil || m[1] != tc.wantNode {
					t.Errorf("exit %d, chose %v, want node %s; stdout %q stderr %q", code, m, tc.wantNode, stdout, stderr)
				}
			})
		}
		// run without --node chooses before it touches the kernel; with
		// it, the name is taken as given (the controller checks it).
		if tc.flag != "" {
			continue
		}
		t.Run("run/"+tc.desc, func(t *testing.T) {
			onHost(t, tc.addrs, tc.host)
			got, err := runNode(context.Background(), source.NewDir(path), t.TempDir())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("runNode = %q, %v; want error %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.wantNode {
				t.Errorf("runNode = %q, %v; want %s", got, err, tc.wantNode)
			}
		})
	}
	// The whole command stops on the error before the kernel is touched.
	onHost(t, []string{"203.0.113.9/24"}, "db1")
	code, _, stderr := runCLI(t, "run", "--source", path, "--listen", "off", "--state-dir", t.TempDir())
	if code != exitError || !strings.Contains(stderr, "choose one with --node (nodes: lb1, lb2)") {
		t.Errorf("run without a matching node: exit %d, stderr %q", code, stderr)
	}
}
