package model_test

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/model/modeltest"
)

// Every valid test description resolves on every node, and each node's
// services are exactly those of its groups plus group-less fwmark ones.
func TestDesiredOnValidTestdata(t *testing.T) {
	files, _ := filepath.Glob("testdata/valid/*.yaml")
	if len(files) == 0 {
		t.Skip("no testdata/valid/*.yaml yet")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c, err := model.Load([]model.File{{Name: f, Data: data}})
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for node := range c.Nodes {
			st, err := model.Desired(c, node)
			if err != nil {
				t.Errorf("%s: Desired(%s): %v", f, node, err)
				continue
			}
			groups := map[string]bool{}
			for _, inst := range st.Instances {
				groups[inst.Name] = true
				if inst.Preference[0].Priority < inst.Priority {
					t.Errorf("%s/%s/%s: preference %v does not start with the highest priority", f, node, inst.Name, inst.Preference)
				}
			}
			for _, s := range st.Services {
				if s.Group != "" && !groups[s.Group] {
					t.Errorf("%s/%s: service %s of group %s the node is not in", f, node, s.Name, s.Group)
				}
			}
		}
	}
}

// The generator's YAML is a valid description that resolves to the same
// state as the generated Cluster.
func TestGenerateYAMLRoundTrip(t *testing.T) {
	c, err := model.Load([]model.File{{Name: "generated.yaml", Data: modeltest.GenerateYAML(60, 3, 3)}})
	if err != nil {
		t.Fatal(err)
	}
	for _, node := range []string{"node-1", "node-3"} {
		fromYAML := desired(t, c, node)
		direct := desired(t, modeltest.GenerateCluster(60, 3, 3), node)
		if !reflect.DeepEqual(fromYAML, direct) {
			t.Errorf("%s: state from YAML differs from the generated cluster's", node)
		}
		if len(direct.Services) != 60 || len(direct.Services[0].RealServers) != 3 || direct.Services[0].RealServers[0].Check.Type != "http" {
			t.Errorf("%s: generated state has %d services", node, len(direct.Services))
		}
	}
}
