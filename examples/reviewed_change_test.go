package examples_test

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/hakeeper/hakeeper/test/golden"

	"github.com/hakeeper/hakeeper/reconcile/clusterdiff"
	"github.com/hakeeper/hakeeper/render"
)

// TestReviewedChange keeps the outputs the reviewed-change README shows
// what `hakeeper diff` and `hakeeper simulate` print for its two
// revisions, so the example cannot rot: go test ./examples -update
// rewrites them after a deliberate change of the output.
func TestReviewedChange(t *testing.T) {
	dir := "reviewed-change"
	d, err := clusterdiff.Compare(load(t, filepath.Join(dir, "before")), load(t, dir), "before/cluster.yaml", "cluster.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// What the README says the review shows.
	if len(d.VIPMoves) != 1 || d.VIPMoves[0].Group != "api" || d.VIPMoves[0].To != "lb2" ||
		len(d.Services) != 1 || d.Services[0].WeightMoved != 50 || len(d.Unchanged()) != 1 {
		t.Errorf("diff %+v, want api moving to lb2, half of www-https's weight moving, lb3 unchanged", d)
	}
	var md, text bytes.Buffer
	if err := render.DiffMarkdown(&md, d); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join(dir, "diff.md"), md.Bytes())
	if err := render.DiffText(&text, d); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join(dir, "diff.txt"), text.Bytes())

	s, err := clusterdiff.Simulate(load(t, dir), clusterdiff.Failures{Nodes: []string{"lb2"}})
	if err != nil {
		t.Fatal(err)
	}
	var sim bytes.Buffer
	if err := render.SimulateText(&sim, s); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join(dir, "simulate-lb2.txt"), sim.Bytes())
}
