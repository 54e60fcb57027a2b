package render

import (
	"bytes"
	goldenfile "github.com/hakeeper/hakeeper/test/golden"
	"path/filepath"
	"testing"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/reconcile"
	"github.com/hakeeper/hakeeper/reconcile/plan"
)

// load returns a node's desired state from a fixture cluster.
func load(t *testing.T, fixture, node string) *model.NodeState {
	t.Helper()
	files, err := reconcile.ReadFiles(filepath.Join("testdata", fixture))
	if err != nil {
		t.Fatal(err)
	}
	c, err := model.Load(files)
	if err != nil {
		t.Fatalf("%s: %v", fixture, err)
	}
	ns, err := model.Desired(c, node)
	if err != nil {
		t.Fatalf("%s, node %s: %v", fixture, node, err)
	}
	return ns
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	goldenfile.Check(t, filepath.Join("testdata", name), got)
}

// liveFrom is what a node runs after applying a fixture cluster.
func liveFrom(ns *model.NodeState) *plan.Live {
	return &plan.Live{Instances: ns.Instances, Services: ns.Services, Checks: ns.Checks, SyncGroups: ns.SyncGroups}
}

func TestGolden(t *testing.T) {
	tests := []struct {
		desc   string
		golden string
		render func(t *testing.T, w *bytes.Buffer) error
	}{
		{"show lb1", "show-lb1.golden", func(t *testing.T, w *bytes.Buffer) error {
			return ShowText(w, load(t, "lab.yaml", "lb1"))
		}},
		{"show lb2", "show-lb2.golden", func(t *testing.T, w *bytes.Buffer) error {
			return ShowText(w, load(t, "lab.yaml", "lb2"))
		}},
		{"show JSON", "show-lb1.json.golden", func(t *testing.T, w *bytes.Buffer) error {
			return JSON(w, load(t, "lab.yaml", "lb1"))
		}},
		{"offline plan", "plan-offline.golden", func(t *testing.T, w *bytes.Buffer) error {
			return PlanText(w, plan.Diff(load(t, "lab.yaml", "lb1"), &plan.Live{}), Options{})
		}},
		{"offline plan JSON", "plan-offline.json.golden", func(t *testing.T, w *bytes.Buffer) error {
			return JSON(w, plan.Diff(load(t, "lab.yaml", "lb1"), &plan.Live{}))
		}},
		{"update plan", "plan-update.golden", func(t *testing.T, w *bytes.Buffer) error {
			return PlanText(w, plan.Diff(load(t, "lab.yaml", "lb1"), liveFrom(load(t, "lab-before.yaml", "lb1"))), Options{})
		}},
		{"update plan JSON", "plan-update.json.golden", func(t *testing.T, w *bytes.Buffer) error {
			return JSON(w, plan.Diff(load(t, "lab.yaml", "lb1"), liveFrom(load(t, "lab-before.yaml", "lb1"))))
		}},
		{"update plan in colour", "plan-update-color.golden", func(t *testing.T, w *bytes.Buffer) error {
			return PlanText(w, plan.Diff(load(t, "lab.yaml", "lb1"), liveFrom(load(t, "lab-before.yaml", "lb1"))), Options{Color: true})
		}},
		{"no changes", "plan-in-sync.golden", func(t *testing.T, w *bytes.Buffer) error {
			return PlanText(w, plan.Diff(load(t, "lab.yaml", "lb1"), liveFrom(load(t, "lab.yaml", "lb1"))), Options{})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tc.render(t, &buf); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.golden, buf.Bytes())
		})
	}
}
