//go:build vmtest

package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hakeeper/hakeeper/lvs"
	"github.com/hakeeper/hakeeper/lvs/ipvskernel"
)

// TestApplyKernel runs apply against the kernel's IPVS (in the test VM):
// removing the node's last service deletes it from the kernel and the
// ownership record, and a foreign service holding a desired key makes
// apply fail naming --adopt-ipvs, without touching that service.
func TestApplyKernel(t *testing.T) {
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		if os.Getenv("HAKEEPER_IN_VM") != "" {
			t.Fatal("no IPVS in the VM")
		}
		t.Skip("no IPVS: run with -exec test/vm/run")
	}
	k, err := ipvskernel.New("")
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	foreign := lvs.Service{Family: lvs.FamilyIPv4, Protocol: lvs.ProtocolTCP, Address: netip.MustParseAddr("192.0.2.10"),
		Port: 443, Scheduler: "wlc", Netmask: 32}
	if err := k.AddService(foreign); err != nil {
		t.Fatal(err)
	}
	defer k.DeleteService(foreign)
	keys := func() []string {
		t.Helper()
		svcs, err := k.Services()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range svcs {
			out = append(out, s.Key().String())
		}
		slices.Sort(out)
		return out
	}
	stateDir := t.TempDir()
	apply := func(desc string) (int, string, string) {
		return runCLI(t, "apply", "--addr", "127.0.0.1:1", "--node", "a", "--state-dir", stateDir, desc)
	}

	if code, stdout, stderr := apply(applyCluster(t, applyWebService)); code != exitOK {
		t.Fatalf("apply: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	if got, want := keys(), []string{"tcp/192.0.2.10:443", "tcp/192.0.2.10:80"}; !slices.Equal(got, want) {
		t.Fatalf("kernel after apply: %v, want %v", got, want)
	}
	if code, stdout, stderr := apply(applyCluster(t, "")); code != exitOK {
		t.Fatalf("apply without services: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	if got, want := keys(), []string{"tcp/192.0.2.10:443"}; !slices.Equal(got, want) {
		t.Errorf("kernel after removing the last service: %v, want only the foreign %v", got, want)
	}
	if owned, err := lvs.LoadOwned(filepath.Join(stateDir, "ipvs-owned.json")); err != nil || len(owned) != 0 {
		t.Errorf("ownership record: %v, %v; want empty", owned, err)
	}

	blocked := strings.Replace(applyWebService, "port: 80", "port: 443", 1)
	code, stdout, stderr := apply(applyCluster(t, blocked))
	if code == exitOK || strings.Contains(stdout, "in sync") || !strings.Contains(stderr, "--adopt-ipvs") ||
		!strings.Contains(stderr, "tcp/192.0.2.10:443") {
		t.Errorf("blocked apply: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	svcs, _ := k.Services()
	for _, s := range svcs {
		if s.Key() == foreign.Key() && s.Scheduler != "wlc" {
			t.Errorf("the foreign service was changed: %+v", s)
		}
	}
}
