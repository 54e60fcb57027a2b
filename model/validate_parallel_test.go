package model_test

import (
	"runtime"
	"testing"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/model/modeltest"
)

// TestValidateManyServicesInParallel breaks services of a description
// large enough for Validate to check services on several goroutines: a
// VIP, port and protocol and fwmarks used twice, a bad port, a real
// server listed twice, a missing service body. The errors must be
// exactly those of a small description holding only the services
// involved (checked one by one), on one goroutine and on four.
func TestValidateManyServicesInParallel(t *testing.T) {
	big := modeltest.GenerateCluster(3000, 3, 3)
	svc := func(name string) *model.Service { return big.Services[name] }
	svc("svc-02900").VIP, svc("svc-02900").Port = svc("svc-00100").VIP, svc("svc-00100").Port
	svc("svc-01000").Port = 70000
	svc("svc-02000").RealServers = append(svc("svc-02000").RealServers, svc("svc-02000").RealServers[0])
	for _, name := range []string{"svc-00500", "svc-02500", "svc-02999"} {
		s := svc(name)
		s.VIP, s.Port, s.FWMark = "", 0, 7
	}
	big.Services["svc-01500"] = nil
	involved := []string{"svc-00100", "svc-02900", "svc-01000", "svc-02000", "svc-00500", "svc-02500", "svc-02999", "svc-01500"}

	small := *big
	small.Services = map[string]*model.Service{}
	for _, name := range involved {
		small.Services[name] = big.Services[name]
	}
	want := model.Validate(&small).Error()
	if n := len(model.Validate(&small)); n != 6 {
		t.Fatalf("small description: %d errors, want one per broken service (6): %s", n, want)
	}
	for _, procs := range []int{1, 4} {
		runtime.GOMAXPROCS(procs)
		got := model.Validate(big).Error()
		if got != want {
			t.Errorf("GOMAXPROCS %d: errors\n%s\nwant\n%s", procs, got, want)
		}
	}
	runtime.GOMAXPROCS(0)
}
