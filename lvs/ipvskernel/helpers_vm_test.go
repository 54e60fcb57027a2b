//go:build vmtest

package ipvskernel_test

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/hakeeper/hakeeper/lvs"
	"github.com/hakeeper/hakeeper/lvs/ipvskernel"
)

// newNetns creates a network namespace for one test (each has its own
// IPVS table) and returns a path to it that ipvs.New and nsenter accept.
func newNetns(t testing.TB) (string, netns.NsHandle) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		if os.Getenv("HAKEEPER_IN_VM") == "1" {
			t.Fatal("the VM has no IPVS: the ip_vs module did not load")
		}
		t.Skip("this kernel has no IPVS; run in the VM: go test -tags vmtest -exec $PWD/test/vm/run ./lvs/ipvskernel")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	ns, err := netns.New()
	if err != nil {
		t.Fatal(err)
	}
	// The kernel refuses IPv4 destinations (EINVAL) in a namespace without
	// any local address: no local routing table exists yet to classify
	// them. Loopback up creates it, as any real director has.
	lo, err := netlink.LinkByName("lo")
	if err == nil {
		err = netlink.LinkSetUp(lo)
	}
	if err != nil {
		netns.Set(orig)
		t.Fatal(err)
	}
	if err := netns.Set(orig); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), int(ns)), ns
}

// inNetns runs f on a thread inside ns; sockets f creates stay in ns.
func inNetns(ns netns.NsHandle, f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		return err
	}
	defer netns.Set(orig)
	return f()
}

func openKernel(t testing.TB, nsPath string) *ipvskernel.Kernel {
	t.Helper()
	k, err := ipvskernel.New(nsPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	return k
}

// ipvsadm runs ipvsadm in the namespace and returns its output.
func ipvsadm(t testing.TB, nsPath string, stdin string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("ipvsadm"); err != nil {
		t.Skip("ipvsadm not installed")
	}
	cmd := exec.Command("nsenter", append([]string{"--net=" + nsPath, "ipvsadm"}, args...)...)
	if stdin != "" {
		cmd.Stdin = stringsReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ipvsadm %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// counting wraps an IPVS and counts write calls.
type counting struct {
	lvs.IPVS
	writes int
}

func (c *counting) AddService(s lvs.Service) error { c.writes++; return c.IPVS.AddService(s) }
func (c *counting) UpdateService(s lvs.Service) error {
	c.writes++
	return c.IPVS.UpdateService(s)
}
func (c *counting) DeleteService(s lvs.Service) error {
	c.writes++
	return c.IPVS.DeleteService(s)
}
func (c *counting) AddDestination(s lvs.Service, d lvs.Destination) error {
	c.writes++
	return c.IPVS.AddDestination(s, d)
}
func (c *counting) UpdateDestination(s lvs.Service, d lvs.Destination) error {
	c.writes++
	return c.IPVS.UpdateDestination(s, d)
}
func (c *counting) DeleteDestination(s lvs.Service, d lvs.Destination) error {
	c.writes++
	return c.IPVS.DeleteDestination(s, d)
}
