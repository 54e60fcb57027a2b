package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// apply cannot run the sync daemon (its state follows VRRP) and says so.
func TestApplyNotesConnectionSync(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cluster.yaml")
	desc := `nodes:
  lb1: {address: 192.0.2.1, interface: eth0}
vipGroups:
  web:
    vrid: 51
    vips: [192.0.2.10/24]
    nodes: [lb1]
    connectionSync: {}
`
	if err := os.WriteFile(path, []byte(desc), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HAKEEPER_ADDR", "127.0.0.1:1") // no daemon for apply to find
	code, _, stderr := runCLI(t, "apply", "--addr", "127.0.0.1:1", "--node", "lb1", path)
	if want := "note: the IPVS sync daemon of node lb1 follows VRRP, which needs the daemon ('hakeeper run'); not applied\n"; code != exitOK || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, stderr:\n%s\nwant 0 and %q", code, stderr, want)
	}
}
