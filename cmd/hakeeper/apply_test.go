package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/nftables"

	"github.com/hakeeper/hakeeper/lvs"
	"github.com/hakeeper/hakeeper/lvs/lvstest"
	"github.com/hakeeper/hakeeper/lvs/marks"
	"github.com/hakeeper/hakeeper/lvs/marks/markstest"
)

// applyCluster is a one-node description; services is appended as is.
func applyCluster(t *testing.T, services string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cluster.yaml")
	desc := "cluster: x\nnodes:\n  a:\n    address: 192.0.2.1\n    interface: eth0\n" +
		"vipGroups:\n  web:\n    vrid: 30\n    vips: [192.0.2.10/32]\n    nodes: [a]\n" + services
	if err := os.WriteFile(path, []byte(desc), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const applyWebService = "services:\n  www:\n    vip: 192.0.2.10\n    port: 80\n    protocol: tcp\n    scheduler: rr\n" +
	"    realServers:\n      - address: 198.51.100.1\n"

// withFakeIPVS makes apply and plan use fake instead of the kernel, and
// an empty fake fwmark table, so no test reads or writes the host's.
func withFakeIPVS(t *testing.T, fake *lvstest.Fake) {
	t.Helper()
	oldIPVS, oldMarks := openIPVS, openMarks
	t.Cleanup(func() { openIPVS, openMarks = oldIPVS, oldMarks })
	openIPVS = func() (lvs.IPVS, func(), error) { return fake, func() {}, nil }
	openMarks = func(...nftables.ConnOption) (marks.Table, error) { return &markstest.Fake{}, nil }
}

func liveKeys(t *testing.T, fake *lvstest.Fake) []string {
	t.Helper()
	svcs, err := fake.Services()
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, s := range svcs {
		keys = append(keys, s.Key().String())
	}
	return keys
}

// TestApplyRemovesLastService: when the description no longer gives the
// node any service, apply deletes the services it owns from the kernel
// and from the ownership record, as run does, instead of calling that
// nothing to apply.
func TestApplyRemovesLastService(t *testing.T) {
	fake := &lvstest.Fake{}
	withFakeIPVS(t, fake)
	stateDir := t.TempDir()
	apply := func(desc string) (int, string, string) {
		return runCLI(t, "apply", "--addr", "127.0.0.1:1", "--node", "a", "--state-dir", stateDir, desc)
	}

	code, stdout, stderr := apply(applyCluster(t, applyWebService))
	if code != exitOK || len(liveKeys(t, fake)) != 1 {
		t.Fatalf("first apply: exit %d, services %v\nstdout %s\nstderr %s", code, liveKeys(t, fake), stdout, stderr)
	}
	record := filepath.Join(stateDir, "ipvs-owned.json")
	if owned, err := lvs.LoadOwned(record); err != nil || len(owned) != 1 {
		t.Fatalf("ownership after the first apply: %v, %v; want the one service", owned, err)
	}

	code, stdout, stderr = apply(applyCluster(t, ""))
	if code != exitOK {
		t.Fatalf("apply without services: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	if keys := liveKeys(t, fake); len(keys) != 0 {
		t.Errorf("services left in the kernel: %v", keys)
	}
	if owned, err := lvs.LoadOwned(record); err != nil || len(owned) != 0 {
		t.Errorf("ownership record after removing the last service: %v, %v; want empty", owned, err)
	}
	if strings.Contains(stdout, "nothing to apply") || !strings.Contains(stdout, "192.0.2.10:80") {
		t.Errorf("stdout does not show the deletion:\n%s", stdout)
	}

	// Nothing owned and nothing desired: nothing to do, and no IPVS needed.
	openIPVS = func() (lvs.IPVS, func(), error) {
		t.Error("apply opened IPVS with nothing owned and nothing desired")
		return fake, func() {}, nil
	}
	code, stdout, _ = apply(applyCluster(t, ""))
	if code != exitOK || !strings.Contains(stdout, "nothing to apply") {
		t.Errorf("second apply without services: exit %d, stdout %q", code, stdout)
	}
}

// TestApplyBlockedByForeignService: a service hakeeper does not own with
// a desired service's key keeps the table from matching the description;
// apply says so, names --adopt-ipvs and exits non-zero, and with
// --adopt-ipvs takes the service over.
func TestApplyBlockedByForeignService(t *testing.T) {
	fake := &lvstest.Fake{}
	withFakeIPVS(t, fake)
	foreign := lvs.Service{Family: lvs.FamilyIPv4, Protocol: lvs.ProtocolTCP, Address: netip.MustParseAddr("192.0.2.10"), Port: 80, Scheduler: "wlc"}
	if err := fake.AddService(foreign); err != nil {
		t.Fatal(err)
	}
	stateDir := t.TempDir()
	desc := applyCluster(t, applyWebService)

	code, stdout, stderr := runCLI(t, "apply", "--addr", "127.0.0.1:1", "--node", "a", "--state-dir", stateDir, desc)
	if code == exitOK {
		t.Errorf("blocked apply exited 0")
	}
	if strings.Contains(stdout, "in sync") {
		t.Errorf("blocked apply claims the table is in sync:\n%s", stdout)
	}
	if !strings.Contains(stderr, "blocked") || !strings.Contains(stderr, "--adopt-ipvs") || !strings.Contains(stderr, "tcp/192.0.2.10:80") {
		t.Errorf("stderr does not say which service is blocked and how to take it over:\n%s", stderr)
	}
	if dests, _ := fake.Destinations(foreign); len(dests) != 0 {
		t.Errorf("the foreign service was changed: destinations %v", dests)
	}

	code, stdout, stderr = runCLI(t, "apply", "--addr", "127.0.0.1:1", "--node", "a", "--state-dir", stateDir, "--adopt-ipvs", desc)
	if code != exitOK {
		t.Fatalf("apply --adopt-ipvs: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	svcs, _ := fake.Services()
	dests, _ := fake.Destinations(foreign)
	if len(svcs) != 1 || svcs[0].Scheduler != "rr" || len(dests) != 1 {
		t.Errorf("after adopting: services %+v, destinations %+v; want the desired rr service with one server", svcs, dests)
	}
}

// TestApplyProgramsMarkRules: apply keeps a fwmark service's marking
// rules as run does: it adds them with the service, prints each write,
// and removes hakeeper's table when the service goes.
func TestApplyProgramsMarkRules(t *testing.T) {
	withFakeIPVS(t, &lvstest.Fake{})
	table := &markstest.Fake{}
	openMarks = func(...nftables.ConnOption) (marks.Table, error) { return table, nil }
	stateDir := t.TempDir()
	apply := func(desc string) (int, string, string) {
		return runCLI(t, "apply", "--addr", "127.0.0.1:1", "--node", "a", "--state-dir", stateDir, desc)
	}

	ftp := "services:\n  ftp:\n    fwmark: 21\n    group: web\n    realServers:\n      - address: 198.51.100.1\n" +
		"    match:\n      - {protocol: tcp, address: 192.0.2.10, ports: [21, 10000-10100]}\n"
	code, stdout, stderr := apply(applyCluster(t, ftp))
	if code != exitOK {
		t.Fatalf("apply: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	var got []string
	for _, l := range table.Live {
		got = append(got, l.String())
	}
	want := []string{"tcp 192.0.2.10 port 21 mark 21", "tcp 192.0.2.10 port 10000-10100 mark 21"}
	if !table.Present || !slices.Equal(got, want) {
		t.Fatalf("rules after apply: present %v, %q; want %q", table.Present, got, want)
	}
	if !strings.Contains(stdout, "+ fwmark rule tcp 192.0.2.10 port 10000-10100 mark 21") {
		t.Errorf("stdout does not show the rule writes:\n%s", stdout)
	}

	writes := table.Writes
	if code, stdout, _ = apply(applyCluster(t, ftp)); code != exitOK || table.Writes != writes || strings.Contains(stdout, "fwmark rule") {
		t.Errorf("second apply of the same description: exit %d, %d table writes, stdout:\n%s", code, table.Writes-writes, stdout)
	}

	if code, stdout, stderr = apply(applyCluster(t, "")); code != exitOK || table.Present {
		t.Errorf("apply without the service: exit %d, table present %v\nstdout %s\nstderr %s", code, table.Present, stdout, stderr)
	}
}
