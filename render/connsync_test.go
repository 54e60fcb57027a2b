package render

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/hakeeper/hakeeper/lvs"
	"github.com/hakeeper/hakeeper/reconcile/plan"
)

// connSyncLive is lb1 while the daemon reports web master: the kernel
// runs the backup daemon it ran as backup, and a master daemon with
// another sync ID started by hand.
func connSyncLive() *plan.Live {
	group := netip.MustParseAddr("239.0.0.81")
	return &plan.Live{SyncState: "master", SyncDaemons: []lvs.SyncDaemon{
		lvs.SyncDaemon{State: lvs.SyncMaster, Interface: "eth1", SyncID: 9, Group: group}.Normalize(),
		lvs.SyncDaemon{State: lvs.SyncBackup, Interface: "eth1", SyncID: 51, Group: group}.Normalize(),
	}}
}

func TestConnectionSyncGolden(t *testing.T) {
	for _, tc := range []struct {
		golden string
		render func(w *bytes.Buffer) error
	}{
		{"show-connsync.golden", func(w *bytes.Buffer) error { return ShowText(w, load(t, "connsync.yaml", "lb1")) }},
		{"plan-connsync-offline.golden", func(w *bytes.Buffer) error {
			return PlanText(w, plan.Diff(load(t, "connsync.yaml", "lb1"), &plan.Live{}), Options{})
		}},
		{"plan-connsync-update.golden", func(w *bytes.Buffer) error {
			return PlanText(w, plan.Diff(load(t, "connsync.yaml", "lb1"), connSyncLive()), Options{})
		}},
		{"plan-connsync-update.json.golden", func(w *bytes.Buffer) error {
			return JSON(w, plan.Diff(load(t, "connsync.yaml", "lb1"), connSyncLive()))
		}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tc.render(&buf); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.golden, buf.Bytes())
		})
	}
}
