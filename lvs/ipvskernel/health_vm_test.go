//go:build vmtest

package ipvskernel_test

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/lvs"
	"github.com/hakeeper/hakeeper/lvs/check"
	"github.com/hakeeper/hakeeper/model"
)

// TestHealthCheckDataPath joins the health checker and the programmer:
// killing a backend's server takes it out of IPVS, so every connection
// through the VIP reaches the other; reviving it brings it back.
func TestHealthCheckDataPath(t *testing.T) {
	d := newDirector(t)
	b1, _ := d.backend(t, 1, "b1")
	b2, _ := d.backend(t, 2, "b2")
	tcp := &model.CheckSpec{Type: "tcp", Interval: 100 * time.Millisecond, Timeout: time.Second, Retries: 1, Rise: 1, Fall: 1, Port: 8080}
	svc := model.VirtualService{Name: "web", Family: model.IPv4, Protocol: model.TCP, Address: netip.MustParseAddr(vip), Port: 80,
		Scheduler: "rr", Forwarding: model.NAT, Quorum: 1, RealServers: []model.RealServerSpec{
			{Address: b1, Port: 8080, Weight: 1, Check: tcp}, {Address: b2, Port: 8080, Weight: 1, Check: tcp}}}

	// Probes dial from the director's namespace, as they would on a director.
	checker := check.New(check.Options{NewProbe: func(spec *model.CheckSpec) (check.Probe, error) {
		probe, err := check.NewProbe(spec)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, target check.Target) (r check.Result) {
			if err := inNetns(d.ns, func() error { r = probe(ctx, target); return nil }); err != nil {
				r.Err = err
			}
			return r
		}, nil
	}})
	defer checker.Close()
	checker.Update([]model.VirtualService{svc})

	p := &lvs.Programmer{IPVS: openKernel(t, d.path), StatePath: filepath.Join(t.TempDir(), "ipvs-owned.json")}
	program := func() []lvs.Op {
		t.Helper()
		effective := svc
		effective.RealServers = check.EffectiveRealServers(svc, checker.HealthFunc(svc))
		plan, _, err := p.Sync(lvs.TableFromModel([]model.VirtualService{effective}))
		if err != nil {
			t.Fatal(err)
		}
		return plan.Ops
	}
	// waitFor reprograms on every health change until the kernel holds
	// want destinations.
	waitFor := func(want int) {
		t.Helper()
		deadline := time.After(60 * time.Second)
		for {
			program()
			live, err := lvs.ReadTable(p.IPVS)
			if err != nil {
				t.Fatal(err)
			}
			if len(live) == 1 && len(live[0].Destinations) == want {
				return
			}
			select {
			case <-checker.Changes():
			case <-time.After(time.Second):
			case <-deadline:
				t.Fatalf("IPVS still holds %+v, want %d destinations", live, want)
			}
		}
	}

	waitFor(2)
	if c := count(d.askN(t, vip, 4)); c["b1"] != 2 || c["b2"] != 2 {
		t.Fatalf("both up: answers %v", c)
	}

	d.kill("b2")
	waitFor(1)
	if c := count(d.askN(t, vip, 4)); c["b1"] != 4 {
		t.Errorf("b2 down: answers %v, want only b1", c)
	}

	d.revive(t, "b2")
	waitFor(2)
	if c := count(d.askN(t, vip, 4)); c["b1"] != 2 || c["b2"] != 2 {
		t.Errorf("b2 back: answers %v", c)
	}
}
