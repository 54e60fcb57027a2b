package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const authCluster = `cluster: auth
defaults:
  vrrp:
    version: 2
nodes:
  lb1: {address: 192.0.2.1, interface: eth0}
  lb2: {address: 192.0.2.2, interface: eth0}
vipGroups:
  web:
    vrid: 51
    vips: [192.0.2.10/24]
    nodes: [lb1, lb2]
    auth: {type: pass, secretEnv: HK_TEST_VRRP_PASS}
`

func TestRenderKeepalivedCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(path, []byte(authCluster), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HK_TEST_VRRP_PASS", "pw123")
	tests := []struct {
		desc       string
		args       []string
		wantCode   int
		wantOut    []string
		notOut     []string
		wantStderr string
	}{
		{"placeholder without --with-secrets", []string{"render", "keepalived", "--node", "lb2", path}, 0,
			[]string{"router_id lb2", "vrrp_instance web {", "priority 100", "version 2", "auth_pass CHANGEME", "# hakeeper: placeholder; the password is in $HK_TEST_VRRP_PASS"}, []string{"pw123"}, ""},
		{"--with-secrets reads the environment variable", []string{"render", "keepalived", "--with-secrets", "--node", "lb1", path}, 0,
			[]string{"auth_pass pw123", "priority 200"}, []string{"CHANGEME"}, ""},
		{"unknown node", []string{"render", "keepalived", "--node", "nope", path}, 1, nil, nil, "nope"},
		{"--node is required", []string{"render", "keepalived", path}, 1, nil, nil, "--node is required"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			code, out, errOut := runCLI(t, tc.args...)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.wantCode, out, errOut)
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tc.notOut {
				if strings.Contains(out, w) {
					t.Errorf("stdout contains %q:\n%s", w, out)
				}
			}
			if !strings.Contains(errOut, tc.wantStderr) {
				t.Errorf("stderr lacks %q: %s", tc.wantStderr, errOut)
			}
		})
	}
}
