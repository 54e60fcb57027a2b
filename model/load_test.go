package model_test

import (
	"strings"
	"testing"

	"github.com/hakeeper/hakeeper/model"
)

func TestLoadReportsDecodeAndValidationErrorsTogether(t *testing.T) {
	for _, tc := range []struct {
		desc string
		yaml string
		want []string
		not  []string
	}{
		{
			desc: "typo in one node, VRID out of range in a group",
			yaml: "nodes:\n  lb1: {address: 192.0.2.1, interface: eth0}\n  lb2: {address: 192.0.2.2, interfce: eth0}\n" +
				"vipGroups:\n  web:\n    vrid: 300\n    vips: [192.0.2.10/24]\n    nodes: [lb1, lb2]\n",
			want: []string{
				`c.yaml:3:29: nodes.lb2.interfce: unknown field "interfce" (did you mean "interface"?)`,
				`c.yaml:6:5: vipGroups.web.vrid: 300 is out of range 1-255`,
			},
			// The missing interface is the typo's echo, not a second problem.
			not: []string{"nodes.lb2.interface"},
		},
		{
			desc: "wrong type is not also reported as out of range",
			yaml: "nodes:\n  lb1: {address: 192.0.2.1, interface: eth0}\n" +
				"vipGroups:\n  web:\n    vrid: fifty\n    vips: [192.0.2.10/24]\n    nodes: [lb1, lb3]\n",
			want: []string{
				`c.yaml:5:11: vipGroups.web.vrid: want an integer`,
				`c.yaml:7:18: vipGroups.web.nodes[1]: no node "lb3" is defined`,
			},
			not: []string{"out of range"},
		},
		{
			desc: "a validation error under another validation error's path is kept",
			yaml: "nodes:\n  lb1: {address: 192.0.2.1, interface: eth0}\n  lb2: {address: 192.0.2.2, interfce: eth0}\n" +
				"vipGroups:\n  web:\n    vrid: 30\n    vips: [192.0.2.10/24]\n    nodes: [lb1]\n    priorities: {lb9: 100}\n",
			want: []string{
				`vipGroups.web.priorities: set either nodes (a preference order) or priorities, not both`,
				`vipGroups.web.priorities.lb9: no node "lb9" is defined`,
			},
		},
		{
			desc: "a YAML syntax error stops before validation",
			yaml: "nodes:\n  lb1: {address: 192.0.2.1\nvipGroups: [\n",
			not:  []string{"no node"},
		},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := model.Load([]model.File{{Name: "c.yaml", Data: []byte(tc.yaml)}})
			if err == nil {
				t.Fatal("Load accepted a broken description")
			}
			got := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("missing %q in:\n%s", w, got)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(got, n) {
					t.Errorf("unexpected %q in:\n%s", n, got)
				}
			}
		})
	}
}
