// Package realservertest is an in-memory realserver.Kernel for tests.
package realservertest

import (
	"errors"
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

// Kernel holds devices and sysctls and counts writes. As in a kernel,
// only devices and sysctls present can be used, and an address can be
// added once. Fail, when set, fails the next write of its kind, once.
type Kernel struct {
	mu      sync.Mutex
	Devices map[string]*Device
	Sysctls map[string]string
	Writes  int
	Fail    map[realserver.OpKind]error
}

// New is a kernel with an up lo holding 127.0.0.1/8 and ::1/128, and the
// ARP sysctls at the kernel's defaults.
func New() *Kernel {
	lo := &Device{Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8"), netip.MustParsePrefix("::1/128")}}
	return &Kernel{Devices: map[string]*Device{"lo": lo},
		Sysctls: map[string]string{"net.ipv4.conf.all.arp_ignore": "0", "net.ipv4.conf.all.arp_announce": "0"}}
}

// do runs fn on device ("": none) under the lock; a write (kind set)
// first fails if Fail says so, and is counted when it succeeds.
func (k *Kernel) do(kind realserver.OpKind, device string, fn func(d *Device) error) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	d := k.Devices[device]
	if d == nil && device != "" {
		return errors.New("no such device")
	}
	if err := k.Fail[kind]; err != nil && kind != "" {
		delete(k.Fail, kind)
		return err
	}
	err := fn(d)
	if err == nil && kind != "" {
		k.Writes++
	}
	return err
}

func (k *Kernel) Addrs(device string) (addrs []netip.Prefix, up bool, err error) {
	err = k.do("", device, func(d *Device) error {
		addrs, up = slices.Clone(d.Addrs), d.Up
		return nil
	})
	return addrs, up, err
}

func (k *Kernel) AddAddr(device string, p netip.Prefix) error {
	return k.do(realserver.AddAddr, device, func(d *Device) error {
		if slices.Contains(d.Addrs, p) {
			return errors.New("file exists")
		}
		d.Addrs = append(d.Addrs, p)
		return nil
	})
}

func (k *Kernel) DelAddr(device string, p netip.Prefix) error {
	return k.do(realserver.DelAddr, device, func(d *Device) error {
		if !slices.Contains(d.Addrs, p) {
			return errors.New("cannot assign requested address")
		}
		d.Addrs = slices.DeleteFunc(d.Addrs, func(a netip.Prefix) bool { return a == p })
		return nil
	})
}

func (k *Kernel) SetUp(device string, up bool) error {
	return k.do(realserver.LinkUp, device, func(d *Device) error { d.Up = up; return nil })
}

func (k *Kernel) Sysctl(name string) (v string, err error) {
	err = k.do("", "", func(*Device) error { v, err = k.sysctl(name); return err })
	return v, err
}

func (k *Kernel) SetSysctl(name, value string) error {
	return k.do(realserver.SetSysctl, "", func(*Device) error {
		_, err := k.sysctl(name)
		if err == nil {
			k.Sysctls[name] = value
		}
		return err
	})
}

func (k *Kernel) sysctl(name string) (string, error) {
	v, ok := k.Sysctls[name]
	if !ok {
		return "", errors.New("open /proc/sys/" + name + ": no such file or directory")
	}
	return v, nil
}

// Has reports whether p is on device.
func (k *Kernel) Has(device string, p netip.Prefix) bool {
	addrs, _, _ := k.Addrs(device)
	return slices.Contains(addrs, p)
}
