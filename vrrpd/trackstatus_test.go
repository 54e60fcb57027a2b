package vrrpd_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/vrrpd"
	"github.com/hakeeper/hakeeper/vrrpd/vrrptest"
)

// track returns the instance's track of kind and name from a snapshot.
func trackOf(t *testing.T, st vrrpd.InstanceStatus, kind vrrpd.TrackKind, name string) vrrpd.TrackStatus {
	t.Helper()
	for _, tr := range st.Tracks {
		if tr.Kind == kind && tr.Name == name {
			return tr
		}
	}
	t.Fatalf("%s has no %s track %q: %+v", st.Name, kind, name, st.Tracks)
	return vrrpd.TrackStatus{}
}

func checkOf(t *testing.T, e *vrrpd.Engine, name string) vrrpd.CheckStatus {
	t.Helper()
	var found []vrrpd.CheckStatus
	for _, c := range e.CheckStatus() {
		if c.Name == name {
			found = append(found, c)
		}
	}
	if len(found) != 1 {
		t.Fatalf("check %q reported %d times, want once: %+v", name, len(found), e.CheckStatus())
	}
	return found[0]
}

// The status explains the effective priority: each tracked interface and
// check with its state, the weight in force, what it adds now, whether
// it faults the instance and since when; a check shared by two groups is
// listed once at engine level with its run counts.
func TestTrackStatusExplainsPriority(t *testing.T) {
	l := newLab(t)
	a := l.node(1)
	g1, g2, owner := instance(1, 200), instance(2, 100), instance(3, 255)
	g1.TrackInterfaces = []model.TrackInterface{{Interface: "uplink", Weight: 10}}
	g1.TrackChecks = []model.TrackedCheck{{Check: "web", Weight: -20}, {Check: "db"}}
	g2.TrackChecks = []model.TrackedCheck{{Check: "web", Weight: -30}}
	owner.TrackChecks = []model.TrackedCheck{{Check: "web", Weight: -20}}
	a.start(g1, g2, owner)
	start := l.clock.Now()
	a.reapply(func(s *model.NodeState) {
		s.Checks = []model.TrackCheckSpec{
			{Name: "db", Command: model.Command{Shell: "check-db"}, Interval: time.Second, Rise: 1, Fall: 1},
			{Name: "web", Command: model.Command{Shell: "check-web"}, Interval: time.Second, Rise: 1, Fall: 2},
		}
	})
	l.advance(500 * time.Millisecond) // the first runs (at start) pass

	st := a.status(1)
	if st.Priority != 210 {
		t.Fatalf("group1 priority %d, want 200 + 10 for the uplink", st.Priority)
	}
	if len(st.Tracks) != 3 || st.Tracks[0].Kind != vrrpd.TrackInterface || st.Tracks[1].Name != "web" || st.Tracks[2].Name != "db" {
		t.Errorf("group1 tracks %+v, want uplink, web, db in configuration order", st.Tracks)
	}
	up := trackOf(t, st, vrrpd.TrackInterface, "uplink")
	if !up.Up || up.Weight != 10 || up.Contribution != 10 || up.Fault || !up.Since.Equal(epoch) {
		t.Errorf("uplink track %+v, want up, +10 applied, since the engine started", up)
	}
	web := trackOf(t, st, vrrpd.TrackCheck, "web")
	if !web.Up || web.Weight != -20 || web.Contribution != 0 || web.Fault || !web.Since.Equal(start) ||
		!web.LastRun.Equal(start) || web.LastExit != 0 || web.LastError != "" {
		t.Errorf("web track %+v, want passing, -20 not applied, since and last run at %v", web, start)
	}

	// One failure of two needed (fall 2): the verdict holds, the streak shows.
	a.runner.SetExit("check-web", 3)
	l.advance(time.Second)
	firstFail := start.Add(time.Second)
	if web := trackOf(t, a.status(1), vrrpd.TrackCheck, "web"); !web.Up || web.Contribution != 0 || web.LastExit != 3 || !web.LastRun.Equal(firstFail) {
		t.Errorf("after one failure web track %+v, want still passing with last exit 3 at %v", web, firstFail)
	}
	if c := checkOf(t, a.e, "web"); !c.Passing || c.ConsecutiveFail != 1 || c.ConsecutiveOK != 0 || !c.Since.Equal(start) {
		t.Errorf("after one failure check %+v, want passing with 1 consecutive failure", c)
	}

	l.advance(time.Second)
	failed := start.Add(2 * time.Second)
	st = a.status(1)
	web = trackOf(t, st, vrrpd.TrackCheck, "web")
	if web.Up || web.Contribution != -20 || web.Fault || !web.Since.Equal(failed) || web.LastExit != 3 {
		t.Errorf("web track %+v, want failing, -20 applied, since %v", web, failed)
	}
	if st.Priority != 190 {
		t.Errorf("group1 priority %d, want 200 + 10 - 20", st.Priority)
	}
	if web := trackOf(t, a.status(2), vrrpd.TrackCheck, "web"); web.Weight != -30 || web.Contribution != -30 {
		t.Errorf("group2's web track %+v, want its own weight -30 applied", web)
	}
	if st := a.status(3); st.Priority != 255 || trackOf(t, st, vrrpd.TrackCheck, "web").Contribution != 0 {
		t.Errorf("owner priority %d, web track %+v: an owner's priority is never adjusted", st.Priority, st.Tracks)
	}
	c := checkOf(t, a.e, "web")
	if c.Passing || !c.Since.Equal(failed) || c.ConsecutiveFail != 2 || c.Rise != 1 || c.Fall != 2 ||
		c.Runs != (vrrpd.CheckRuns{Passed: 1, Failed: 2}) || !slices.Equal(c.Groups, []string{"group1", "group2", "group3"}) {
		t.Errorf("check %+v, want failing since %v, 2 consecutive failures, runs 1 passed 2 failed, tracked by all groups", c, failed)
	}

	// A link going down takes its positive weight away, from that moment.
	a.links.Set("uplink", false)
	l.settle()
	downAt := l.clock.Now()
	st = a.status(1)
	if up := trackOf(t, st, vrrpd.TrackInterface, "uplink"); up.Up || up.Contribution != 0 || !up.Since.Equal(downAt) {
		t.Errorf("uplink track %+v, want down, nothing added, since %v", up, downAt)
	}
	if st.Priority != 180 {
		t.Errorf("group1 priority %d, want 200 - 20", st.Priority)
	}

	// A weight-0 check that cannot run faults the instance; the status says which and why.
	a.runner.SetError("check-db", vrrptest.ErrTimeout)
	l.advance(time.Second)
	st = a.status(1)
	db := trackOf(t, st, vrrpd.TrackCheck, "db")
	if st.State != model.StateFault || db.Up || !db.Fault || db.Contribution != 0 || !strings.Contains(db.LastError, "timed out") {
		t.Errorf("group1 %s, db track %+v: want fault from db with its error", st.State, db)
	}
	if c := checkOf(t, a.e, "db"); c.Runs.Errors != 1 || c.LastError == "" || !slices.Equal(c.Groups, []string{"group1"}) {
		t.Errorf("db check %+v, want one run error, tracked by group1", c)
	}

	// Passing again (rise 1): the verdict and its time change back.
	a.runner.SetExit("check-web", 0)
	l.advance(time.Second)
	recovered := start.Add(4 * time.Second) // the run at 3s still failed
	if c := checkOf(t, a.e, "web"); !c.Passing || c.ConsecutiveOK != 1 || c.ConsecutiveFail != 0 || !c.Since.Equal(recovered) {
		t.Errorf("check after a pass %+v, want passing since %v", c, recovered)
	}
}

// A check no instance tracks any more leaves the engine's list.
func TestCheckStatusFollowsConfig(t *testing.T) {
	l := newLab(t)
	a := l.node(1)
	in := instance(1, 200)
	in.TrackChecks = []model.TrackedCheck{{Check: "web", Weight: -20}}
	a.start(in)
	a.reapply(func(s *model.NodeState) {
		s.Checks = []model.TrackCheckSpec{{Name: "web", Command: model.Command{Shell: "check-web"}, Interval: time.Second, Rise: 1, Fall: 1}}
	})
	if got := a.e.CheckStatus(); len(got) != 1 || got[0].Name != "web" {
		t.Fatalf("checks %+v, want web", got)
	}
	a.reapply(func(s *model.NodeState) { s.Instances[0].TrackChecks = nil })
	if got := a.e.CheckStatus(); len(got) != 0 {
		t.Errorf("checks %+v after the group stopped tracking web, want none", got)
	}
	if st := a.status(1); len(st.Tracks) != 0 {
		t.Errorf("tracks %+v, want none", st.Tracks)
	}
}
