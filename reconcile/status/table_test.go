package status_test

import (
	"bytes"
	"encoding/json"
	goldenfile "github.com/hakeeper/hakeeper/test/golden"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/reconcile/status"
)

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	goldenfile.Check(t, filepath.Join("testdata", name), got)
}

// now is the time the tables are rendered at.
var now = time.Date(2026, 3, 1, 12, 1, 8, 0, time.UTC)

// tracked is a report with two groups tracking a shared check, one
// failing check with a weight, one faulting weight-0 check and a link.
func tracked() *status.Report {
	at := func(s string) time.Time {
		tm, err := time.Parse(time.TimeOnly, s)
		if err != nil {
			panic(err)
		}
		return time.Date(2026, 3, 1, tm.Hour(), tm.Minute(), tm.Second(), 0, time.UTC)
	}
	return &status.Report{
		Node: "lb1", Source: "dir /etc/hakeeper", Healthy: true,
		VIPGroups: []status.VIPGroup{
			{Name: "web", Interface: "eth0", Family: "ipv4", VRID: 51, State: "backup", Priority: 190, BasePriority: 200,
				Master: "192.0.2.2", Since: at("12:01:03"), Transitions: 2,
				VIPs: []status.VIP{{Address: "192.0.2.100/24", Device: "eth0"}},
				Tracks: []status.Track{
					{Kind: "interface", Name: "uplink", Up: true, Weight: 10, Contribution: 10, Since: at("11:00:00")},
					{Kind: "check", Name: "nginx-alive", Up: false, Weight: -20, Contribution: -20, Since: at("12:01:03"),
						LastRun: at("12:01:07"), LastResult: "exit 1"},
				}},
			{Name: "db", Interface: "eth0", Family: "ipv4", VRID: 52, State: "fault", Priority: 100, BasePriority: 100,
				Since: at("12:00:00"), Reason: "tracked check pg-ready failing", Transitions: 3,
				VIPs: []status.VIP{{Address: "192.0.2.101/24", Device: "eth0"}},
				Tracks: []status.Track{
					{Kind: "check", Name: "nginx-alive", Up: false, Weight: -5, Contribution: -5, Since: at("12:01:03"),
						LastRun: at("12:01:07"), LastResult: "exit 1"},
					{Kind: "check", Name: "pg-ready", Up: false, Fault: true, Since: at("12:00:00"),
						LastRun: at("12:01:07"), LastResult: "fake: command timed out"},
					{Kind: "interface", Name: "backend", Up: true, Weight: 0, Since: at("11:00:00")},
				}},
			{Name: "plain", Interface: "eth1", Family: "ipv4", VRID: 53, State: "master", Priority: 150, BasePriority: 150,
				Since: at("11:00:00"), VIPs: []status.VIP{{Address: "198.51.100.1/24", Device: "eth1", Present: true}}},
		},
		TrackChecks: []status.TrackCheck{
			{Name: "nginx-alive", Passing: false, Since: at("12:01:03"), Rise: 2, Fall: 3, ConsecutiveFail: 5,
				RunsPassed: 3600, RunsFailed: 5, LastRun: at("12:01:07"), LastResult: "exit 1", Groups: []string{"db", "web"}},
			{Name: "pg-ready", Passing: false, Since: at("12:00:00"), Rise: 1, Fall: 1, ConsecutiveFail: 60,
				RunsErrors: 60, LastRun: at("12:01:07"), LastResult: "fake: command timed out", Groups: []string{"db"}},
		},
		Services: []status.Service{},
	}
}

// Each track is a line under its group saying what it does to the
// priority; the group columns stay aligned; checks are listed once.
func TestTableShowsTracks(t *testing.T) {
	var b bytes.Buffer
	if err := status.WriteText(&b, tracked(), now); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"  track check nginx-alive  failing  weight -20 (applied)",
		"since 12:01:03 (5s ago)     last: exit 1",
		"  track interface uplink",
		"weight +10 (applied)",
		"  track check pg-ready     failing  weight 0 (FAULT)",
		"  track interface backend  up       weight 0 (faults when down)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// Group rows keep their columns: VRIDs start at the same column.
	var cols []int
	for _, line := range strings.Split(out, "\n") {
		for _, g := range []string{"web ", "db ", "plain "} {
			if strings.HasPrefix(line, g) {
				cols = append(cols, strings.Index(line, "5"))
			}
		}
	}
	if len(cols) != 3 || cols[0] != cols[1] || cols[1] != cols[2] {
		t.Errorf("VRID columns at %v, want 3 equal:\n%s", cols, out)
	}
	golden(t, "tracks.txt", b.Bytes())
}

// The JSON names of the new fields are a contract like the old ones;
// a group without tracks has no tracks key.
func TestReportJSONTracks(t *testing.T) {
	b, err := json.MarshalIndent(tracked(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "tracks.json", append(b, '\n'))
	var back struct {
		VIPGroups []map[string]any `json:"vipGroups"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if _, ok := back.VIPGroups[2]["tracks"]; ok {
		t.Errorf("group without tracks has a tracks key: %v", back.VIPGroups[2])
	}
}

// A suspected split brain and an advert that cannot be encoded are
// printed under their group, where an operator reading the table looks.
func TestTableShowsVRRPAlerts(t *testing.T) {
	r := &status.Report{
		Node: "lb1", Source: "dir /etc/hakeeper",
		Degraded: "group web: split-brain suspected: 12 adverts for VRID 51 rejected (bad-auth) from 192.0.2.2 in the last 11s",
		VIPGroups: []status.VIPGroup{
			{Name: "web", Interface: "eth0", VRID: 51, State: "master", Priority: 200, BasePriority: 200,
				SplitBrain: "split-brain suspected: 12 adverts for VRID 51 rejected (bad-auth) from 192.0.2.2 in the last 11s"},
			{Name: "big", Interface: "eth0", VRID: 52, State: "fault", Priority: 100, BasePriority: 100,
				AdvertError: "cannot encode its advert: 256 addresses, at most 255 fit"},
		},
	}
	var b bytes.Buffer
	if err := status.WriteText(&b, r, now); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	want := map[string]string{
		"web ": "  SPLIT BRAIN: split-brain suspected: 12 adverts for VRID 51 rejected (bad-auth) from 192.0.2.2 in the last 11s",
		"big ": "  FAULT: cannot encode its advert: 256 addresses, at most 255 fit",
	}
	for i, line := range lines {
		for prefix, next := range want {
			if strings.HasPrefix(line, prefix) {
				if i+1 >= len(lines) || lines[i+1] != next {
					t.Errorf("line after %q is not %q:\n%s", line, next, b.String())
				}
				delete(want, prefix)
			}
		}
	}
	if len(want) > 0 {
		t.Errorf("groups %v missing:\n%s", want, b.String())
	}
	if !strings.Contains(b.String(), "DEGRADED: group web: split-brain suspected") {
		t.Errorf("health line does not say degraded:\n%s", b.String())
	}
}
