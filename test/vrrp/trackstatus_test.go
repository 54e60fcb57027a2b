package vrrp

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/reconcile/status"
	"github.com/hakeeper/hakeeper/test/netns"
)

// TestTrackedCheckInStatus: while a tracked check fails on the master,
// the running daemon's /status shows the check failing with its weight
// applied and the lowered priority, `hakeeper status` prints the track
// line under the group, and /metrics has the track series; the VIP moves
// to the backup as the lowered priority says, and everything reads
// passing again when the check recovers.
func TestTrackedCheckInStatus(t *testing.T) {
	lab := netns.New(t, 2)
	n1, n2 := lab.Node(1), lab.Node(2)
	dir := t.TempDir()
	// One description for all nodes: the check tells nodes apart by the
	// namespace the daemon runs in.
	okFile := func(n *netns.Node) string { return filepath.Join(dir, "ok-"+n.Name) }
	for _, n := range lab.Nodes {
		if err := os.WriteFile(okFile(n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	src := Description(t, lab, fmt.Sprintf(`checks:
  app:
    command: test -f %s/ok-$(ip netns identify)
    interval: 100ms
    fall: 2
    weight: -150
vipGroups:
`, dir)+group("web", 51, "10.99.0.100/24", "    nodes: [n1, n2]\n    trackChecks: [{check: app}]\n"))
	sock := filepath.Join(t.TempDir(), "n1.sock")
	StartHakeeperArgs(t, n1, src, []string{"--listen", "unix:" + sock})
	StartHakeeper(t, n2, src)
	mustHolder(t, lab, vip4, n1, failoverBound(fast)+2*time.Second)
	client := status.NewClient("unix:" + sock)

	web, _ := waitTrack(t, client, "app", func(tr status.Track) bool { return tr.Up && tr.LastResult == "pass" })
	if tr := web.Tracks[0]; tr.Weight != -150 || tr.Contribution != 0 || web.Priority != web.BasePriority {
		t.Errorf("passing check: track %+v, priority %d/%d; want weight -150 not applied", tr, web.Priority, web.BasePriority)
	}

	failedFrom := time.Now()
	if err := os.Remove(okFile(n1)); err != nil {
		t.Fatal(err)
	}
	mustHolder(t, lab, vip4, n2, failoverBound(fast)+time.Second)
	web, r := waitTrack(t, client, "app", func(tr status.Track) bool { return !tr.Up })
	tr := web.Tracks[0]
	if tr.Kind != "check" || tr.Weight != -150 || tr.Contribution != -150 || tr.Fault || tr.LastResult != "exit 1" ||
		tr.Since.Before(failedFrom) || tr.Since.After(time.Now()) {
		t.Errorf("failing check track %+v, want weight -150 applied, last exit 1, since after %v", tr, failedFrom)
	}
	if want := max(int(web.BasePriority)-150, 1); int(web.Priority) != want || web.State != "backup" {
		t.Errorf("web %s at priority %d/%d, want backup at %d", web.State, web.Priority, web.BasePriority, want)
	}
	if len(r.TrackChecks) != 1 || r.TrackChecks[0].Passing || r.TrackChecks[0].ConsecutiveFail < 2 ||
		r.TrackChecks[0].RunsFailed < 2 || len(r.TrackChecks[0].Groups) != 1 || r.TrackChecks[0].Groups[0] != "web" {
		t.Errorf("trackChecks %+v, want app failing, ≥2 failures in a row, tracked by web", r.TrackChecks)
	}

	out, err := exec.Command(Binary(t), "status", "--addr", "unix:"+sock).CombinedOutput()
	if err != nil {
		t.Errorf("hakeeper status: %v\n%s", err, out)
	}
	t.Logf("hakeeper status while the check fails:\n%s", out)
	line := regexp.MustCompile(`(?m)^web .*\n  track check app\s+failing\s+weight -150 \(applied\)\s+since \d\d:\d\d:\d\d \(.*\)\s+last: exit 1$`)
	if !line.Match(out) {
		t.Errorf("hakeeper status lacks the failing check under web:\n%s", out)
	}

	metrics := scrape(t, sock)
	for _, want := range []string{
		`hakeeper_vrrp_track_up{group="web",kind="check",name="app"} 0`,
		`hakeeper_vrrp_track_weight_applied{group="web",kind="check",name="app"} -150`,
		`hakeeper_vrrp_track_check_runs_total{check="app",result="fail"} `,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	if err := os.WriteFile(okFile(n1), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	mustHolder(t, lab, vip4, n1, failoverBound(fast)+time.Second)
	web, _ = waitTrack(t, client, "app", func(tr status.Track) bool { return tr.Up })
	if tr := web.Tracks[0]; tr.Contribution != 0 || tr.LastResult != "pass" || web.Priority != web.BasePriority {
		t.Errorf("recovered check track %+v, priority %d/%d", tr, web.Priority, web.BasePriority)
	}
}

// waitTrack polls /status until group web's track check name satisfies ok,
// and returns the group and the report.
func waitTrack(t *testing.T, c *status.Client, name string, ok func(status.Track) bool) (status.VIPGroup, *status.Report) {
	t.Helper()
	var last *status.Report
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		r, err := c.Status(ctx)
		cancel()
		if err != nil {
			continue
		}
		last = r
		for _, g := range r.VIPGroups {
			if g.Name == "web" && len(g.Tracks) == 1 && g.Tracks[0].Kind == "check" && g.Tracks[0].Name == name && ok(g.Tracks[0]) {
				return g, r
			}
		}
	}
	t.Fatalf("/status never showed the expected %s track: %+v", name, last)
	return status.VIPGroup{}, nil
}

// scrape reads /metrics from the daemon's unix socket.
func scrape(t *testing.T, sock string) string {
	t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}}}
	resp, err := hc.Get("http://hakeeper/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d %v", resp.StatusCode, err)
	}
	return string(b)
}
