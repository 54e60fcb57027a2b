package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hakeeper/hakeeper/model"
)

const kaCorpus = "../../render/keepalived/testdata/import/"

func TestImportCommand(t *testing.T) {
	tests := []struct {
		desc       string
		args       []string
		wantCode   int
		wantOut    []string
		wantStderr []string
	}{
		{
			desc:       "two nodes with addresses: YAML on stdout, secret warning on stderr",
			args:       []string{"import", "--cluster", "shop", "--address", "lb1=192.0.2.1", "--address", "lb2=192.0.2.2", "lb1=" + kaCorpus + "two-node/lb1.conf", "lb2=" + kaCorpus + "two-node/lb2.conf"},
			wantOut:    []string{"# Cluster description imported from keepalived.conf", "cluster: shop", "VI_1:", "lb1: 150", "secretFile: /etc/hakeeper/secrets/VI_1.pass"},
			wantStderr: []string{"warning: " + kaCorpus + "two-node/lb1.conf:14: vipGroups.VI_1: the VRRP password was not copied"},
		},
		{
			desc:       "bare paths take node names from router_id; differences are warnings, exit 0",
			args:       []string{"import", "--address", "lb-one=192.0.2.1", "--address", "lb-two=192.0.2.2", kaCorpus + "messy/lb1.conf", kaCorpus + "messy/lb2.conf"},
			wantOut:    []string{"lb-one:", "lb-two:"},
			wantStderr: []string{"messy/lb2.conf:21: vipGroups.VI_1: virtual_ipaddress differs between nodes", "at ../../render/keepalived/testdata/import/messy/lb1.conf:17", "messy/lb2.conf:19: vipGroups.VI_1: auth_pass differs"},
		},
		{
			desc:       "missing node address is an error naming the node and the flag",
			args:       []string{"import", kaCorpus + "two-node/lb1.conf"},
			wantCode:   1,
			wantStderr: []string{"node lb1: address unknown: no vrrp_instance has unicast_src_ip or mcast_src_ip", "--address lb1="},
		},
		{
			desc:    "multicast nodes take their address from mcast_src_ip",
			args:    []string{"import", kaCorpus + "mcast-src/lb1.conf", kaCorpus + "mcast-src/lb2.conf"},
			wantOut: []string{"lb1:\n    address: 192.0.2.1", "lb2:\n    address: 192.0.2.2"},
		},
		{
			desc:       "ports keepalived clears for DR are cleared with a warning naming file:line",
			args:       []string{"import", kaCorpus + "fwmark-dr-port/lb1.conf", kaCorpus + "fwmark-dr-port/lb2.conf"},
			wantOut:    []string{"fwmark-7:", "realServers:\n      - address: 198.51.100.11\n      - address: 198.51.100.12\n"},
			wantStderr: []string{"warning: " + kaCorpus + "fwmark-dr-port/lb1.conf:30: virtual_server fwmark 7 real_server 198.51.100.11 80: port 80 cleared, as keepalived does"},
		},
		{
			desc:       "a fwmark service: no iptables rules in keepalived.conf, said at its line",
			args:       []string{"import", "--address", "ftp1=192.0.2.1", "--address", "ftp2=192.0.2.2", kaCorpus + "fwmark-ftp/lb1.conf", kaCorpus + "fwmark-ftp/lb2.conf"},
			wantOut:    []string{"fwmark-21:\n    fwmark: 21\n    scheduler"},
			wantStderr: []string{"warning: " + kaCorpus + "fwmark-ftp/lb1.conf:16: virtual_server fwmark 21: keepalived.conf holds no iptables rules", "--iptables-save FILE"},
		},
		{
			desc:       "--iptables-save converts the mangle MARK rules into match",
			args:       []string{"import", "--iptables-save", kaCorpus + "fwmark-iptables/iptables-save", "--address", "ftp1=192.0.2.1", "--address", "ftp2=192.0.2.2", kaCorpus + "fwmark-iptables/lb1.conf", kaCorpus + "fwmark-iptables/lb2.conf"},
			wantOut:    []string{"fwmark: 21\n    match:\n      - protocol: tcp\n        address: 192.0.2.30\n        ports: [21, 10000-10100, 10200]\n"},
			wantStderr: []string{"warning: " + kaCorpus + "fwmark-iptables/iptables-save:10: iptables: option -i is not convertible"},
		},
		{
			desc:       "a loopback sorry server is imported",
			args:       []string{"import", kaCorpus + "sorry-loopback/lb1.conf", kaCorpus + "sorry-loopback/lb2.conf"},
			wantOut:    []string{"sorryServer:\n      address: 127.0.0.1\n"},
			wantStderr: []string{"warning: " + kaCorpus + "sorry-loopback/lb1.conf:39: virtual_server 192.0.2.100 8080 sorry_server: IPVS drops packets from other hosts"},
		},
		{
			desc:       "nb_get_retry where keepalived 2.x ignores it: imported, with a warning",
			args:       []string{"import", kaCorpus + "nb-get-retry/lb1.conf", kaCorpus + "nb-get-retry/lb2.conf"},
			wantOut:    []string{"retries: 3"},
			wantStderr: []string{"warning: " + kaCorpus + "nb-get-retry/lb1.conf:30: virtual_server 192.0.2.100 80 real_server 198.51.100.11 80 TCP_CHECK: nb_get_retry 3 is ignored by keepalived 2.x here", "did not retry 3 times"},
		},
		{
			desc:       "parse errors name file and line",
			args:       []string{"import", "x=../../render/keepalived/testdata/broken/extra-brace.conf"},
			wantCode:   1,
			wantStderr: []string{"extra-brace.conf:4: unexpected '}'"},
		},
		{
			desc:       "a missing file is an error",
			args:       []string{"import", "lb1=/nonexistent/keepalived.conf"},
			wantCode:   1,
			wantStderr: []string{"/nonexistent/keepalived.conf"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			code, out, errOut := runCLI(t, tc.args...)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.wantCode, out, errOut)
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tc.wantStderr {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			if tc.wantCode != 0 && out != "" {
				t.Errorf("failed import wrote to stdout:\n%s", out)
			}
		})
	}
}

func TestImportOutDirWritesValidDescription(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	code, out, errOut := runCLI(t, "import", "--out", dir, kaCorpus+"lvs-dr/lb1.conf", kaCorpus+"lvs-dr/lb2.conf")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if out != "" {
		t.Errorf("stdout not empty with --out: %q", out)
	}
	data, err := os.ReadFile(filepath.Join(dir, "cluster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := model.Load([]model.File{{Name: "cluster.yaml", Data: data}})
	if err != nil {
		t.Fatalf("written description does not load: %v", err)
	}
	if _, ok := c.Nodes["lvs-a"]; !ok || len(c.Services) != 2 {
		t.Errorf("nodes %v, %d services; want lvs-a and 2 services", c.Nodes, len(c.Services))
	}
	if !strings.Contains(errOut, "wrote "+filepath.Join(dir, "cluster.yaml")) {
		t.Errorf("stderr does not say what was written: %q", errOut)
	}
}
