package netlab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/model"
)

// TestLVSDescriptionValid: every description the LVS lab commits loads
// and validates (a typo in the generator would otherwise surface only in
// the VM, as a refused revision).
func TestLVSDescriptionValid(t *testing.T) {
	for _, c := range []LVSConfig{
		{RealServers: []int{1, 2}, Advert: time.Second, CheckInterval: time.Second},
		{RealServers: []int{1, 2, 3}, Weights: map[int]int{2: 0}, Advert: 500 * time.Millisecond, CheckInterval: 2 * time.Second},
	} {
		cl, err := model.Load([]model.File{{Name: "cluster.yaml", Data: []byte(LVSDescription(c))}})
		if err != nil {
			t.Fatalf("%+v: %v\n%s", c, err, LVSDescription(c))
		}
		if errs := model.Validate(cl); len(errs) > 0 {
			t.Fatalf("%+v: %v\n%s", c, errs, LVSDescription(c))
		}
		for _, node := range []string{"director1", "web1"} {
			if _, err := model.Desired(cl, node); err != nil {
				t.Fatalf("%+v: node %s: %v", c, node, err)
			}
		}
	}
}

// TestBackendAsk: a backend in one namespace answers a client in another
// with its name, from the client's chosen source address; once stopped,
// the connection is refused.
func TestBackendAsk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	lab, err := NewLVS(fmt.Sprintf("hkt%d", os.Getpid()), 1)
	// Even a failed NewLVS returns what it created, for Close.
	t.Cleanup(func() { lab.Close() })
	if err != nil {
		t.Fatal(err)
	}
	web := lab.RealServers[0]
	b, err := StartBackend(web, "web1", 80)
	if err != nil {
		t.Fatal(err)
	}
	dst := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.21"), 80)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, src := range lab.ClientAddrs[:2] {
		if got, err := lab.Client.Ask(ctx, src, dst); err != nil || got != "web1" {
			t.Fatalf("from %s: %q, %v", src, got, err)
		}
	}
	b.Stop()
	if got, err := lab.Client.Ask(ctx, lab.ClientAddrs[0], dst); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("stopped backend: %q, %v; want connection refused", got, err)
	}
}

// TestGap: the longest time without an answer between from and to,
// counted from the last answer before from; failures are no answers.
func TestGap(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }
	ok := func(start, end int) Result { return Result{Start: at(start), End: at(end), Answer: "web1"} }
	fail := func(start, end int) Result { return Result{Start: at(start), End: at(end), Err: errors.New("reset")} }
	for _, c := range []struct {
		name     string
		results  []Result
		from, to int
		want     time.Duration
	}{
		{"steady", []Result{ok(0, 10), ok(60, 70), ok(120, 130)}, 50, 200, 60 * time.Millisecond},
		{"failures in between", []Result{ok(0, 10), fail(60, 70), fail(120, 130), ok(180, 190)}, 50, 200, 180 * time.Millisecond},
		{"one slow request", []Result{ok(0, 10), ok(60, 3060), ok(3110, 3120)}, 50, 4000, 3050 * time.Millisecond},
		{"answers after to ignored", []Result{ok(0, 10), ok(60, 70), ok(5000, 5010)}, 50, 200, 60 * time.Millisecond},
		{"nothing answered", []Result{fail(60, 70)}, 50, 200, 0},
	} {
		if got := Gap(c.results, at(c.from), at(c.to)); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
