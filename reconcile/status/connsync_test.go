package status_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hakeeper/hakeeper/reconcile/status"
)

// The table names each sync daemon, its sync ID and the group it follows.
func TestTableShowsSyncDaemons(t *testing.T) {
	r := &status.Report{Node: "lb1", Healthy: true, SyncDaemons: []status.SyncDaemon{
		{State: "master", Group: "web", Interface: "eth1", SyncID: 51},
		{State: "backup", Interface: "eth0", SyncID: 9},
	}}
	var b bytes.Buffer
	if err := status.WriteText(&b, r, now); err != nil {
		t.Fatal(err)
	}
	if want := "Sync daemons:   master on eth1 syncid 51 (web), backup on eth0 syncid 9 (not hakeeper's)"; !strings.Contains(b.String(), want) {
		t.Errorf("table lacks %q:\n%s", want, b.String())
	}
}
