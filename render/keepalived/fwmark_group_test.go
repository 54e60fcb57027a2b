package keepalived

import (
	"fmt"
	"path/filepath"
	"testing"
)

// TestImportFwmarkGroup: a fwmark service that only some nodes run is
// tied to the VIP group with exactly those nodes.
func TestImportFwmarkGroup(t *testing.T) {
	dir := t.TempDir()
	inst := "vrrp_instance %s {\n interface eth0\n virtual_router_id %d\n unicast_src_ip 192.0.2.%d\n unicast_peer {\n  192.0.2.9\n }\n virtual_ipaddress {\n  %s\n }\n}\n"
	svc := "virtual_server fwmark 5 {\n lb_kind DR\n real_server 198.51.100.1 {\n  weight 1\n }\n}\n"
	var srcs []Source
	for i, node := range []string{"lb1", "lb2", "lb3"} {
		conf := fmt.Sprintf(inst, "VI_ALL", 1, i+1, "192.0.2.100")
		if node != "lb3" {
			conf += fmt.Sprintf(inst, "VI_TWO", 2, i+1, "192.0.2.101") + svc
		}
		path := filepath.Join(dir, node+".conf")
		writeFile(t, path, conf)
		srcs = append(srcs, Source{Node: node, Path: path})
	}
	res, err := Import(srcs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := res.Cluster.Services["fwmark-5"]
	if s == nil {
		t.Fatalf("no service fwmark-5: %v", res.Cluster.Services)
	}
	if s.Group != "VI_TWO" {
		t.Errorf("fwmark-5 is tied to group %q, want VI_TWO (the group of exactly lb1 and lb2)\n%s", s.Group, warningsText(res.Warnings))
	}
}
