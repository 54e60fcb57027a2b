package lvs_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fsnotify/fsnotify"

	"github.com/hakeeper/hakeeper/lvs"
	"github.com/hakeeper/hakeeper/lvs/lvstest"
)

func TestOwnershipFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ipvs-owned.json")
	owned, err := lvs.LoadOwned(path)
	if err != nil || len(owned) != 0 {
		t.Fatalf("missing file: %v, %v; want empty set", owned, err)
	}
	owned = lvs.Owned{web.Key(): {}, dns.Key(): {}, fwm.Key(): {}}
	if err := lvs.SaveOwned(path, owned); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	want := "{\n  \"version\": 1,\n  \"services\": [\n    \"tcp/192.0.2.10:80\",\n    \"fwmark/ipv4/7\",\n    \"udp/[2001:db8::53]:53\"\n  ]\n}\n"
	if string(data) != want {
		t.Errorf("file:\n%s\nwant:\n%s", data, want)
	}
	back, err := lvs.LoadOwned(path)
	if err != nil || len(back) != 3 || !back.Has(web.Key()) || !back.Has(dns.Key()) || !back.Has(fwm.Key()) {
		t.Fatalf("reloaded %v, %v", back, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the record (no temporary files left)", len(entries))
	}

	for desc, content := range map[string]string{
		`services[1]: service key "tcp/nonsense"`: `{"version":1,"services":["tcp/192.0.2.1:80","tcp/nonsense"]}`,
		"version: 2 is not 1":                     `{"version":2,"services":[]}`,
		"not an IPVS ownership record":            `{"version":1,"owners":[]}`,
	} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := lvs.LoadOwned(path)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), desc) {
			t.Errorf("LoadOwned(%s) = %v, want an error naming the file and %q", content, err, desc)
		}
	}
}

func TestProgrammerRestartAdoptsWithoutWrites(t *testing.T) {
	state := filepath.Join(t.TempDir(), "ipvs-owned.json")
	fake := &lvstest.Fake{}
	foreign := lvs.Service{Family: lvs.FamilyIPv4, Protocol: lvs.ProtocolTCP, Address: web.Address, Port: 443, Scheduler: "rr"}
	if err := fake.AddService(foreign); err != nil {
		t.Fatal(err)
	}
	p := &lvs.Programmer{IPVS: fake, StatePath: state}
	plan, done, err := p.Sync(baseTable())
	if err != nil {
		t.Fatal(err)
	}
	if done != len(plan.Ops) || done != 3+5 {
		t.Fatalf("first sync did %d of %q", done, opStrings(plan.Ops))
	}
	if len(plan.Unmanaged) != 1 || plan.Unmanaged[0].Key() != foreign.Key() {
		t.Errorf("unmanaged = %v, want the foreign service", plan.Unmanaged)
	}

	// A restart: a new programmer on the same kernel table and record.
	writes := fake.Writes
	p2 := &lvs.Programmer{IPVS: fake, StatePath: state}
	plan, done, err = p2.Sync(baseTable())
	if err != nil || done != 0 || !plan.Empty() || len(plan.Conflicts) != 0 {
		t.Fatalf("restart: %d ops done, plan %q, conflicts %v, err %v", done, opStrings(plan.Ops), plan.Conflicts, err)
	}
	if fake.Writes != writes {
		t.Errorf("restart made %d writes, want 0", fake.Writes-writes)
	}

	// The cluster drops a service: only that one goes, the foreign stays.
	plan, _, err = p2.Sync(baseTable()[:2])
	if err != nil || len(plan.Ops) != 1 || plan.Ops[0].Kind != lvs.OpDeleteService {
		t.Fatalf("drop: plan %q, err %v", opStrings(plan.Ops), err)
	}
	owned, _ := lvs.LoadOwned(state)
	if owned.Has(fwm.Key()) || !owned.Has(web.Key()) || owned.Has(foreign.Key()) {
		t.Errorf("record after delete: %v", owned.Keys())
	}
	var keys []string
	for _, vs := range fake.Table() {
		keys = append(keys, vs.Service.Key().String())
	}
	if strings.Join(keys, " ") != "tcp/192.0.2.10:443 tcp/192.0.2.10:80 udp/[2001:db8::53]:53" {
		t.Errorf("kernel table: %v", keys)
	}
}

func TestProgrammerLostRecord(t *testing.T) {
	fake := &lvstest.Fake{}
	if _, _, err := (&lvs.Programmer{IPVS: fake, StatePath: filepath.Join(t.TempDir(), "a.json")}).Sync(baseTable()); err != nil {
		t.Fatal(err)
	}
	// The record is gone: without adopt nothing is touched.
	writes := fake.Writes
	lost := filepath.Join(t.TempDir(), "b.json")
	changed := cloneTable(baseTable())
	changed[0].Destinations[0].Weight = 7
	plan, _, err := (&lvs.Programmer{IPVS: fake, StatePath: lost}).Sync(changed)
	if err != nil || !plan.Empty() || len(plan.Conflicts) != 3 || fake.Writes != writes {
		t.Fatalf("without adopt: plan %q conflicts %d writes %d, err %v", opStrings(plan.Ops), len(plan.Conflicts), fake.Writes-writes, err)
	}
	// With adopt the services are taken over and the one change is made.
	plan, _, err = (&lvs.Programmer{IPVS: fake, StatePath: lost, Adopt: true}).Sync(changed)
	if err != nil || len(plan.Ops) != 1 || len(plan.Adopted) != 3 || fake.Writes != writes+1 {
		t.Fatalf("with adopt: plan %q adopted %v writes %d, err %v", opStrings(plan.Ops), plan.Adopted, fake.Writes-writes, err)
	}
	if owned, _ := lvs.LoadOwned(lost); len(owned) != 3 {
		t.Errorf("record after adoption: %v", owned.Keys())
	}
}

func TestApplyStopsAtFirstError(t *testing.T) {
	boom := errors.New("boom")
	fake := &lvstest.Fake{FailAt: 4, FailErr: boom}
	state := filepath.Join(t.TempDir(), "ipvs-owned.json")
	plan, done, err := (&lvs.Programmer{IPVS: fake, StatePath: state}).Sync(baseTable())
	var applyErr *lvs.ApplyError
	if !errors.As(err, &applyErr) || !errors.Is(err, boom) || done != 3 || applyErr.Done != 3 || applyErr.Op.Kind != lvs.OpAddService {
		t.Fatalf("done %d, err %v", done, err)
	}
	if want := "IPVS: + service udp/[2001:db8::53]:53 sh flags=sched1,sched2 failed after 3 operations: boom"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if fake.Writes != 4 {
		t.Errorf("%d writes, want 4 (no write after the failure)", fake.Writes)
	}
	// The refused create is not owned; the others (created or pending) are.
	owned, _ := lvs.LoadOwned(state)
	if owned.Has(dns.Key()) || !owned.Has(web.Key()) || !owned.Has(fwm.Key()) {
		t.Errorf("record: %v", owned.Keys())
	}
	// The next sync finishes the job.
	fake.FailAt = 0
	plan, done, err = (&lvs.Programmer{IPVS: fake, StatePath: state}).Sync(baseTable())
	if err != nil || done != 2+3 {
		t.Fatalf("retry: did %d of %q, err %v", done, opStrings(plan.Ops), err)
	}
}

// A key dropped from the record without any IPVS write is recorded once,
// after the (empty) apply: nothing is added before it, so there is nothing
// to record first.
func TestProgrammerForgottenKeyRecordedOnce(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "ipvs-owned.json")
	fake := &lvstest.Fake{}
	p := &lvs.Programmer{IPVS: fake, StatePath: state}
	if _, _, err := p.Sync(baseTable()); err != nil {
		t.Fatal(err)
	}
	// Someone deletes fwm and the cluster drops it too: its key is forgotten.
	if err := fake.DeleteService(fwm); err != nil {
		t.Fatal(err)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Add(dir); err != nil {
		t.Fatal(err)
	}
	plan, done, err := p.Sync(baseTable()[:2])
	if err != nil || done != 0 || len(plan.Forgotten) != 1 {
		t.Fatalf("plan %q done %d forgotten %v, err %v", opStrings(plan.Ops), done, plan.Forgotten, err)
	}
	// The marker's event comes after every event of the Sync.
	marker := filepath.Join(dir, "marker")
	if err := os.WriteFile(marker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	saves := 0
	for ev := range w.Events {
		if ev.Name == marker {
			break
		}
		if ev.Name == state && ev.Has(fsnotify.Create) { // the rename into place
			saves++
		}
	}
	if saves != 1 {
		t.Errorf("record written %d times, want 1", saves)
	}
	if owned, _ := lvs.LoadOwned(state); owned.Has(fwm.Key()) || len(owned) != 2 {
		t.Errorf("record: %v", owned.Keys())
	}
}
