package keepalived

import (
	"path/filepath"
	"strings"
	"testing"
)

// An lvs_sync_daemon naming no vrrp_instance of its node is dropped with a
// warning; malformed options are refused at their line.
func TestImportSyncDaemonProblems(t *testing.T) {
	inst := "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n mcast_src_ip 192.0.2.1\n virtual_ipaddress {\n  192.0.2.100\n }\n}\n"
	importOne := func(global string) (*Result, error) {
		path := filepath.Join(t.TempDir(), "lb1.conf")
		writeFile(t, path, "global_defs {\n "+global+"\n}\n"+inst)
		return Import([]Source{{Path: path}}, Options{})
	}
	res, err := importOne("lvs_sync_daemon eth0 VI_2")
	if err != nil {
		t.Fatal(err)
	}
	if w := string(warningsText(res.Warnings)); !strings.Contains(w, "lb1.conf:2: lvs_sync_daemon: VI_2 is no vrrp_instance of this node (dropped)") {
		t.Errorf("warnings:\n%s", w)
	}
	for g := range res.Cluster.VIPGroups {
		if res.Cluster.VIPGroups[g].ConnectionSync != nil {
			t.Errorf("group %s got connectionSync", g)
		}
	}
	for _, tc := range []struct{ global, want string }{
		{"lvs_sync_daemon eth0", "lb1.conf:2: lvs_sync_daemon: want an interface, a vrrp_instance and option value pairs"},
		{"lvs_sync_daemon eth0 VI_1 id", "want an interface, a vrrp_instance and option value pairs"},
		{"lvs_sync_daemon eth0 VI_1 maxlen big", `lvs_sync_daemon: maxlen "big" is not a whole number`},
		{"lvs_sync_daemon eth0 VI_1 mtu 1500", `lvs_sync_daemon: unknown option "mtu" (want id, maxlen, port, ttl or group)`},
	} {
		if _, err := importOne(tc.global); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.global, err, tc.want)
		}
	}
}
