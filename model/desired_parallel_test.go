package model_test

import (
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/model/modeltest"
)

// TestDesiredManyServicesInParallel resolves a cluster large enough for
// Desired to split services across goroutines, on one goroutine and on
// several: the node states must be identical (same services in name
// order, those of groups the node is not in left out), and with several
// broken services the error must name the first in name order.
func TestDesiredManyServicesInParallel(t *testing.T) {
	const services = 5000
	desired := func(c *model.Cluster, procs int) (*model.NodeState, error) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		return model.Desired(c, "node-1")
	}

	c := modeltest.GenerateCluster(services, 2, 3)
	c.VIPGroups["elsewhere"] = &model.VIPGroup{VRID: 200, Nodes: []string{"node-2", "node-3"}, VIPs: []model.VIP{{Address: "203.0.113.250/24"}}}
	skipped := 0
	for i, name := range sortedNames(c) {
		if i%7 == 3 {
			c.Services[name].VIP = "203.0.113.250"
			skipped++
		}
	}
	one, err := desired(c, 1)
	if err != nil {
		t.Fatal(err)
	}
	many, err := desired(c, 4)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(many.Services), services-skipped; got != want {
		t.Errorf("%d services for node-1, want %d", got, want)
	}
	if !reflect.DeepEqual(one, many) {
		t.Error("node state resolved on several goroutines differs from one goroutine's")
	}

	for _, name := range []string{"svc-04000", "svc-01500", "svc-04999", "svc-01501"} {
		c.Services[name].VIP = "not-an-address"
	}
	for _, procs := range []int{1, 4} {
		_, err := desired(c, procs)
		if err == nil || !strings.Contains(err.Error(), "services.svc-01500.vip") {
			t.Errorf("GOMAXPROCS %d: error %v, want the first broken service in name order (svc-01500)", procs, err)
		}
	}
}

func sortedNames(c *model.Cluster) []string {
	names := make([]string, 0, len(c.Services))
	for n := range c.Services {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
