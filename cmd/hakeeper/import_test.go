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
			wantStderr: []string{"node lb1: address unknown", "--address lb1="},
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
