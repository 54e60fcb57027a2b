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
