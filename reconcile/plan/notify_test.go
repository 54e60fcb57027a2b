package plan

import (
	"testing"

	"github.com/hakeeper/hakeeper/model"
)

// notify.user (set on every instance by defaults.scriptUser) is shown only
// for an instance that has a hook for that user to run.
func TestNotifyUserShownOnlyWithHooks(t *testing.T) {
	for _, tc := range []struct {
		desc   string
		notify model.NotifySpec
		want   string // "" means not listed
	}{
		{desc: "no hooks", notify: model.NotifySpec{User: "root"}},
		{desc: "master hook", notify: model.NotifySpec{User: "root", Master: model.Command{Shell: "true"}}, want: "root"},
		{desc: "stop hook only", notify: model.NotifySpec{User: "hooks", Stop: model.Command{Argv: []string{"/bin/true"}}}, want: "hooks"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			ns := sampleState()
			for i := range ns.Instances {
				ns.Instances[i].Notify = tc.notify
			}
			p := Diff(ns, nil)
			got, listed := "", false
			for _, f := range p.Changes[1].Fields {
				if f.Name == "notify.user" {
					got, listed = f.New, true
				}
			}
			if got != tc.want || listed != (tc.want != "") {
				t.Errorf("notify.user listed=%v %q, want %q", listed, got, tc.want)
			}
		})
	}
}
