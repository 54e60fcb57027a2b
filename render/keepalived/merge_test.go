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

// TestImportInterfaceOverride: when the nodes run one instance on
// different interfaces, each node whose interface differs from its main
// one gets a node override.
func TestImportInterfaceOverride(t *testing.T) {
	dir := t.TempDir()
	inst := "vrrp_instance %s {\n interface %s\n virtual_router_id %d\n unicast_src_ip 192.0.2.%d\n unicast_peer {\n  192.0.2.9\n }\n virtual_ipaddress {\n  %s\n }\n}\n"
	var srcs []Source
	for i, node := range []string{"lb1", "lb2"} {
		ifaceA := "eth0"
		if node == "lb2" {
			ifaceA = "eth1"
		}
		conf := fmt.Sprintf(inst, "VI_A", ifaceA, 1, i+1, "192.0.2.100") + fmt.Sprintf(inst, "VI_B", "eth0", 2, i+1, "192.0.2.101")
		path := filepath.Join(dir, node+".conf")
		writeFile(t, path, conf)
		srcs = append(srcs, Source{Node: node, Path: path})
	}
	res, err := Import(srcs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Cluster.VIPGroups["VI_A"].Interface; got != "" {
		t.Errorf("VI_A interface = %q, want none (the members differ)", got)
	}
	lb2 := res.Cluster.Nodes["lb2"]
	if lb2.Interface != "eth0" {
		t.Fatalf("lb2 interface = %q, want eth0", lb2.Interface)
	}
	if o := lb2.Overrides["VI_A"]; o == nil || o.Interface != "eth1" {
		t.Errorf("lb2 overrides = %v, want VI_A on eth1", lb2.Overrides)
	}
	if o := res.Cluster.Nodes["lb1"].Overrides["VI_A"]; o != nil {
		t.Errorf("lb1 has an override for VI_A: %+v", o)
	}
}
