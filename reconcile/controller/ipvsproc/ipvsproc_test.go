package ipvsproc_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hakeeper/hakeeper/reconcile/controller/ipvsproc"
)

const table = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port Forward Weight ActiveConn InActConn
TCP  C0000264:0050 wlc 
  -> C6336402:1F90      Masq    2      0          0         
  -> C6336401:1F90      Masq    1      0          0         
UDP  C0000264:0035 rr persistent 300 FFFFFFFF
  -> C6336401:14E9      Masq    1      0          0         
`

func TestSum(t *testing.T) {
	base := ipvsproc.Sum([]byte(table))
	tests := []struct {
		desc string
		from string
		to   string
		same bool
	}{
		{desc: "connection counters are traffic, not configuration", from: "Masq    2      0          0", to: "Masq    2      17         3", same: true},
		{desc: "weight", from: "Masq    2 ", to: "Masq    9 "},
		{desc: "forwarding", from: "C6336402:1F90      Masq", to: "C6336402:1F90      Route"},
		{desc: "scheduler", from: "0050 wlc", to: "0050 rr"},
		{desc: "persistence", from: "persistent 300", to: "persistent 360"},
		{desc: "destination deleted", from: "  -> C6336401:14E9      Masq    1      0          0         \n", to: ""},
		{desc: "service added", from: "UDP", to: "TCP  CB00710A:01BB rr \nUDP"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			changed := strings.Replace(table, tc.from, tc.to, 1)
			if changed == table {
				t.Fatalf("edit %q did not apply", tc.from)
			}
			if got := ipvsproc.Sum([]byte(changed)) == base; got != tc.same {
				t.Errorf("same fingerprint = %v, want %v", got, tc.same)
			}
		})
	}
}

// Fingerprint reads the namespace's file; without IPVS it says so.
func TestFingerprintWithoutIPVS(t *testing.T) {
	if _, err := os.Stat("/proc/net/ip_vs"); err == nil {
		t.Skip("this kernel has IPVS; the VM tests cover the real read")
	}
	if _, err := (ipvsproc.Table{}).Fingerprint(); err == nil {
		t.Error("fingerprint of a kernel without IPVS succeeded")
	}
	if _, err := (ipvsproc.Table{NetnsPath: filepath.Join(t.TempDir(), "none")}).Fingerprint(); err == nil {
		t.Error("fingerprint of a missing namespace succeeded")
	}
}
