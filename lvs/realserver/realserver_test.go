package realserver_test

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hakeeper/hakeeper/lvs/realserver"
	"github.com/hakeeper/hakeeper/lvs/realserver/realservertest"
	"github.com/hakeeper/hakeeper/model"
)

var (
	vip4 = netip.MustParsePrefix("192.0.2.10/32")
	vip6 = netip.MustParsePrefix("2001:db8::10/128")
	tun4 = netip.MustParsePrefix("192.0.2.11/32")
)

const (
	arpIgnore   = "net.ipv4.conf.all.arp_ignore"
	arpAnnounce = "net.ipv4.conf.all.arp_announce"
	rpFilter    = "net.ipv4.conf.tunl0.rp_filter"
)

func drRole() *model.RealServerRole {
	return &model.RealServerRole{
		VIPs: []model.RealServerVIP{
			{Prefix: vip4, Device: "lo", Services: []string{"http"}},
			{Prefix: vip6, Device: "lo", Services: []string{"http6"}},
		},
		Sysctls: []model.Sysctl{{Name: arpAnnounce, Value: "2"}, {Name: arpIgnore, Value: "1"}},
	}
}

func opStrings(ops []realserver.Op) []string {
	out := make([]string, len(ops))
	for i, op := range ops {
		out[i] = op.String()
	}
	return out
}

func sync(t *testing.T, p *realserver.Programmer, role *model.RealServerRole, want ...string) {
	t.Helper()
	pl, done, err := p.Sync(role)
	if err != nil {
		t.Fatal(err)
	}
	if got := opStrings(pl.Ops); !slices.Equal(got, want) || done != len(want) {
		t.Fatalf("ops (%d done):\n got %q\nwant %q", done, got, want)
	}
}

func newProgrammer(t *testing.T, k realserver.Kernel) *realserver.Programmer {
	return &realserver.Programmer{Kernel: k, StatePath: filepath.Join(t.TempDir(), "realserver-owned.json")}
}

func TestSyncAddsRepairsAndRemoves(t *testing.T) {
	k := realservertest.New()
	p := newProgrammer(t, k)
	// Sysctls first: the VIP is never on lo while ARP still answers for it.
	sync(t, p, drRole(),
		"set-sysctl net.ipv4.conf.all.arp_announce 0 -> 2",
		"set-sysctl net.ipv4.conf.all.arp_ignore 0 -> 1",
		"add-address 192.0.2.10/32 on lo",
		"add-address 2001:db8::10/128 on lo")
	writes := k.Writes
	sync(t, p, drRole())
	if k.Writes != writes {
		t.Fatalf("an in-sync pass wrote %d times", k.Writes-writes)
	}

	// Drift: an address removed and a sysctl reset by hand.
	if err := k.DelAddr("lo", vip4); err != nil {
		t.Fatal(err)
	}
	k.Sysctls[arpIgnore] = "0"
	sync(t, p, drRole(), "set-sysctl net.ipv4.conf.all.arp_ignore 0 -> 1", "add-address 192.0.2.10/32 on lo")

	// A restarted daemon reads the record: removal takes what it added
	// and restores the values found before the first change.
	k.Sysctls[arpAnnounce] = "2"
	p = &realserver.Programmer{Kernel: k, StatePath: p.StatePath}
	sync(t, p, nil,
		"delete-address 192.0.2.10/32 on lo",
		"delete-address 2001:db8::10/128 on lo",
		"restore-sysctl net.ipv4.conf.all.arp_announce 2 -> 0",
		"restore-sysctl net.ipv4.conf.all.arp_ignore 1 -> 0")
	sync(t, p, nil)
}

func TestHandMadeAddressIsKept(t *testing.T) {
	k := realservertest.New()
	k.Devices["lo"].Addrs = append(k.Devices["lo"].Addrs, vip4)
	k.Sysctls[arpIgnore] = "1" // set by hand too: hakeeper changes nothing
	p := newProgrammer(t, k)
	pl, err := p.Plan(drRole())
	if err != nil {
		t.Fatal(err)
	}
	if len(pl.Kept) != 1 || pl.Kept[0] != (realserver.Addr{Device: "lo", Prefix: vip4}) {
		t.Fatalf("kept %v", pl.Kept)
	}
	sync(t, p, drRole(), "set-sysctl net.ipv4.conf.all.arp_announce 0 -> 2", "add-address 2001:db8::10/128 on lo")
	sync(t, p, nil, "delete-address 2001:db8::10/128 on lo", "restore-sysctl net.ipv4.conf.all.arp_announce 2 -> 0")
	if !k.Has("lo", vip4) || k.Sysctls[arpIgnore] != "1" {
		t.Fatalf("the hand-made address or sysctl was touched: lo %v, arp_ignore %s", k.Devices["lo"].Addrs, k.Sysctls[arpIgnore])
	}
}

func TestSysctlChangedSinceIsLeftAlone(t *testing.T) {
	k := realservertest.New()
	p := newProgrammer(t, k)
	sync(t, p, drRole(),
		"set-sysctl net.ipv4.conf.all.arp_announce 0 -> 2",
		"set-sysctl net.ipv4.conf.all.arp_ignore 0 -> 1",
		"add-address 192.0.2.10/32 on lo",
		"add-address 2001:db8::10/128 on lo")
	k.Sysctls[arpIgnore] = "2" // the operator's own choice now
	pl, done, err := p.Sync(nil)
	if err != nil || done != 3 {
		t.Fatalf("%d done, %v", done, err)
	}
	if k.Sysctls[arpIgnore] != "2" || k.Sysctls[arpAnnounce] != "0" {
		t.Fatalf("sysctls %v", k.Sysctls)
	}
	if len(pl.Notes) != 1 || !strings.Contains(pl.Notes[0], "net.ipv4.conf.all.arp_ignore is 2, not the 1 hakeeper set") {
		t.Fatalf("notes %q", pl.Notes)
	}
	// Forgotten: a later pass does not restore it either.
	sync(t, p, nil)
}

func TestTunnel(t *testing.T) {
	role := &model.RealServerRole{
		VIPs:    []model.RealServerVIP{{Prefix: tun4, Device: "tunl0", Services: []string{"t"}}},
		Sysctls: []model.Sysctl{{Name: arpAnnounce, Value: "2"}, {Name: arpIgnore, Value: "1"}, {Name: rpFilter, Value: "2"}},
	}
	k := realservertest.New()
	p := newProgrammer(t, k)
	if _, _, err := p.Sync(role); err == nil || !strings.Contains(err.Error(), "device tunl0: no such device (tun real servers need the ipip module: modprobe ipip)") {
		t.Fatalf("missing tunl0: %v", err)
	}
	if k.Writes != 0 {
		t.Fatalf("a role that cannot be applied wrote %d times", k.Writes)
	}
	k.Devices["tunl0"] = &realservertest.Device{}
	k.Sysctls[rpFilter] = "1"
	sync(t, p, role,
		"set-sysctl net.ipv4.conf.all.arp_announce 0 -> 2",
		"set-sysctl net.ipv4.conf.all.arp_ignore 0 -> 1",
		"set-sysctl net.ipv4.conf.tunl0.rp_filter 1 -> 2",
		"link-up tunl0",
		"add-address 192.0.2.11/32 on tunl0")
	sync(t, p, role)
	sync(t, p, nil,
		"delete-address 192.0.2.11/32 on tunl0",
		"link-down tunl0",
		"restore-sysctl net.ipv4.conf.all.arp_announce 2 -> 0",
		"restore-sysctl net.ipv4.conf.all.arp_ignore 1 -> 0",
		"restore-sysctl net.ipv4.conf.tunl0.rp_filter 2 -> 1")
	if d := k.Devices["tunl0"]; d.Up || len(d.Addrs) != 0 {
		t.Fatalf("tunl0 %+v", d)
	}
}

// A failed write keeps the record of the writes before it, so they are
// undone on removal.
func TestPartialSyncIsRecorded(t *testing.T) {
	k := realservertest.New()
	k.Fail = map[realserver.OpKind]error{realserver.AddAddr: errors.New("no buffer space")}
	p := newProgrammer(t, k)
	_, done, err := p.Sync(drRole())
	if err == nil || done != 2 || !strings.Contains(err.Error(), "add-address 192.0.2.10/32 on lo: no buffer space") {
		t.Fatalf("%d done, %v", done, err)
	}
	sync(t, p, nil,
		"restore-sysctl net.ipv4.conf.all.arp_announce 2 -> 0",
		"restore-sysctl net.ipv4.conf.all.arp_ignore 1 -> 0")
}

func TestBadRecord(t *testing.T) {
	p := newProgrammer(t, realservertest.New())
	if err := os.WriteFile(p.StatePath, []byte(`{"version": 2, "addresses": []}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Sync(drRole()); err == nil || !strings.Contains(err.Error(), `realserver-owned.json: not a version 1 real-server record`) {
		t.Fatalf("got %v", err)
	}
}
