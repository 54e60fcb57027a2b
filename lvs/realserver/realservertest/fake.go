// Package realservertest is an in-memory realserver.Kernel for tests.
package realservertest

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"

	"github.com/hakeeper/hakeeper/lvs/realserver"
)

// Device is one fake network device.
type Device struct {
	Up    bool
	Addrs []netip.Prefix
}

// Kernel holds devices and sysctls in memory and counts writes. Only
// devices and sysctls present can be used, as in a real kernel.
type Kernel struct {
	mu      sync.Mutex
	Devices map[string]*Device
	Sysctls map[string]string
	Writes  int
	// Fail, when set, is returned by the write it names ("add-address",
	// "set-sysctl", ...), once.
	Fail map[realserver.OpKind]error
}

var _ realserver.Kernel = (*Kernel)(nil)

// New is a kernel with an up lo holding 127.0.0.1/8 and ::1/128, and the
// ARP sysctls at the kernel's defaults.
func New() *Kernel {
	return &Kernel{
		Devices: map[string]*Device{"lo": {Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8"), netip.MustParsePrefix("::1/128")}}},
		Sysctls: map[string]string{
			"net.ipv4.conf.all.arp_ignore":   "0",
			"net.ipv4.conf.all.arp_announce": "0",
		},
	}
}

func (k *Kernel) dev(name string) (*Device, error) {
	d := k.Devices[name]
	if d == nil {
		return nil, errors.New("no such device")
	}
	return d, nil
}

func (k *Kernel) write(kind realserver.OpKind) error {
	if err := k.Fail[kind]; err != nil {
		delete(k.Fail, kind)
		return err
	}
	k.Writes++
	return nil
}

func (k *Kernel) Addrs(device string) ([]netip.Prefix, bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	d, err := k.dev(device)
	if err != nil {
		return nil, false, err
	}
	return slices.Clone(d.Addrs), d.Up, nil
}

func (k *Kernel) AddAddr(device string, p netip.Prefix) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	d, err := k.dev(device)
	if err != nil {
		return err
	}
	if slices.Contains(d.Addrs, p) {
		return fmt.Errorf("file exists")
	}
	if err := k.write(realserver.AddAddr); err != nil {
		return err
	}
	d.Addrs = append(d.Addrs, p)
	return nil
}

func (k *Kernel) DelAddr(device string, p netip.Prefix) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	d, err := k.dev(device)
	if err != nil {
		return err
	}
	i := slices.Index(d.Addrs, p)
	if i < 0 {
		return fmt.Errorf("cannot assign requested address")
	}
	if err := k.write(realserver.DelAddr); err != nil {
		return err
	}
	d.Addrs = slices.Delete(d.Addrs, i, i+1)
	return nil
}

func (k *Kernel) SetUp(device string, up bool) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	d, err := k.dev(device)
	if err != nil {
		return err
	}
	if err := k.write(realserver.LinkUp); err != nil {
		return err
	}
	d.Up = up
	return nil
}

func (k *Kernel) Sysctl(name string) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.Sysctls[name]
	if !ok {
		return "", fmt.Errorf("open /proc/sys/%s: no such file or directory", name)
	}
	return v, nil
}

func (k *Kernel) SetSysctl(name, value string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.Sysctls[name]; !ok {
		return fmt.Errorf("open /proc/sys/%s: no such file or directory", name)
	}
	if err := k.write(realserver.SetSysctl); err != nil {
		return err
	}
	k.Sysctls[name] = value
	return nil
}

// Has reports whether p is on device.
func (k *Kernel) Has(device string, p netip.Prefix) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	d := k.Devices[device]
	return d != nil && slices.Contains(d.Addrs, p)
}
