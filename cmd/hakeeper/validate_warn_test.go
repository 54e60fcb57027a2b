package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A warning is printed as "warning: FILE:LINE:COL: FIELD: MESSAGE" and
// leaves the exit status 0.
func TestValidateWarning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	data := `nodes:
  lb1: {address: 192.0.2.1, interface: eth0}
  lb2: {address: 192.0.2.2, interface: eth0}
vipGroups:
  web:
    vrid: 51
    vips: [192.0.2.10/24, 10.9.9.9/24]
    nodes: [lb1, lb2]
`
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "validate", path)
	if code != exitOK {
		t.Errorf("exit %d, want %d", code, exitOK)
	}
	if want := path + ": valid (2 nodes, 1 VIP group, 0 services)\n"; stdout != want {
		t.Errorf("stdout %q, want %q", stdout, want)
	}
	want := "warning: " + path + ":7:27: vipGroups.web.vips[1]: prefix 10.9.9.0/24 of VIP 10.9.9.9 holds none of the group's node addresses (192.0.2.1, 192.0.2.2)"
	if !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("stderr:\n%s\nwant one line starting:\n%s", stderr, want)
	}

	code, _, stderr = runCLI(t, "validate", demoPath)
	if code != exitOK || stderr != "" {
		t.Errorf("demo: exit %d, stderr %q; want 0 and nothing", code, stderr)
	}
}
