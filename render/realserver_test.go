package render

import (
	"bytes"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/hakeeper/hakeeper/lvs/realserver"
	"github.com/hakeeper/hakeeper/lvs/realserver/realservertest"
	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/reconcile/plan"
)

// realServerLive is web1's kernel as the realserver programmer plans it:
// 192.0.2.10/32 put on lo by hand, arp_announce already 2, tunl0 down
// with strict rp_filter, and 198.51.100.99/32 on lo from an earlier
// revision hakeeper applied.
func realServerLive(t *testing.T, desired *model.NodeState) *plan.Live {
	k := realservertest.New()
	k.Devices["lo"].Addrs = append(k.Devices["lo"].Addrs, netip.MustParsePrefix("192.0.2.10/32"))
	k.Devices["tunl0"] = &realservertest.Device{}
	k.Sysctls["net.ipv4.conf.all.arp_announce"] = "2"
	k.Sysctls["net.ipv4.conf.tunl0.rp_filter"] = "1"
	p := &realserver.Programmer{Kernel: k, StatePath: filepath.Join(t.TempDir(), "realserver-owned.json")}
	earlier := &model.RealServerRole{VIPs: []model.RealServerVIP{{Prefix: netip.MustParsePrefix("198.51.100.99/32"), Device: "lo"}}}
	if _, _, err := p.Sync(earlier); err != nil {
		t.Fatal(err)
	}
	rs, err := p.Plan(desired.RealServer)
	if err != nil {
		t.Fatal(err)
	}
	return &plan.Live{RealServer: &rs}
}

func TestRealServerGolden(t *testing.T) {
	tests := []struct {
		golden string
		render func(t *testing.T, w *bytes.Buffer) error
	}{
		{"show-web1.golden", func(t *testing.T, w *bytes.Buffer) error { return ShowText(w, load(t, "realserver.yaml", "web1")) }},
		{"show-web1.json.golden", func(t *testing.T, w *bytes.Buffer) error { return JSON(w, load(t, "realserver.yaml", "web1")) }},
		{"plan-web1-offline.golden", func(t *testing.T, w *bytes.Buffer) error {
			return PlanText(w, plan.Diff(load(t, "realserver.yaml", "web1"), &plan.Live{}), Options{})
		}},
		{"plan-web1-offline.json.golden", func(t *testing.T, w *bytes.Buffer) error {
			return JSON(w, plan.Diff(load(t, "realserver.yaml", "web1"), &plan.Live{}))
		}},
		{"plan-web1-update.golden", func(t *testing.T, w *bytes.Buffer) error {
			ns := load(t, "realserver.yaml", "web1")
			return PlanText(w, plan.Diff(ns, realServerLive(t, ns)), Options{})
		}},
		{"plan-web1-update.json.golden", func(t *testing.T, w *bytes.Buffer) error {
			ns := load(t, "realserver.yaml", "web1")
			return JSON(w, plan.Diff(ns, realServerLive(t, ns)))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.golden, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tc.render(t, &buf); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.golden, buf.Bytes())
		})
	}
}
