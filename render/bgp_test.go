package render

import (
	"bytes"
	"testing"

	"github.com/hakeeper/hakeeper/reconcile/plan"
)

// show and plan --offline of a bgp director: sessions, groups with what
// withdraws them, the VIPs on lo with the sloppy sysctls, mh.
func TestBGPGolden(t *testing.T) {
	for name, render := range map[string]func(t *testing.T, w *bytes.Buffer) error{
		"show-bgp-lb2.golden": func(t *testing.T, w *bytes.Buffer) error { return ShowText(w, load(t, "bgp.yaml", "lb2")) },
		"plan-bgp-lb2-offline.golden": func(t *testing.T, w *bytes.Buffer) error {
			return PlanText(w, plan.Diff(load(t, "bgp.yaml", "lb2"), &plan.Live{}), Options{})
		},
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := render(t, &buf); err != nil {
				t.Fatal(err)
			}
			golden(t, name, buf.Bytes())
		})
	}
}
