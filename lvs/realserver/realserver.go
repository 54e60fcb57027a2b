// Package realserver programs a node's part as a real server of LVS dr
// and tun services (model.RealServerRole): the VIPs as host addresses on
// the loopback or tunnel device, and the ARP sysctls. Like the IPVS
// programmer it writes only what differs, and it records in the state
// directory what it added and each sysctl's value before it changed it:
// an address it did not add is never removed, and a sysctl goes back to
// its old value when no longer needed, unless someone changed it since.
package realserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"slices"

	"github.com/hakeeper/hakeeper/lvs"
	"github.com/hakeeper/hakeeper/model"
)

// Kernel is the node's kernel as the role needs it.
type Kernel interface {
	// Addrs lists device's addresses and whether it is up.
	Addrs(device string) (addrs []netip.Prefix, up bool, err error)
	AddAddr(device string, p netip.Prefix) error
	DelAddr(device string, p netip.Prefix) error
	SetUp(device string, up bool) error
	// Sysctl reads a setting by its sysctl(8) name.
	Sysctl(name string) (string, error)
	SetSysctl(name, value string) error
}

// OpKind is what an operation does. RestoreSysctl puts back the value
// found before hakeeper set it.
type OpKind string

const (
	AddAddr       OpKind = "add-address"
	DelAddr       OpKind = "delete-address"
	LinkUp        OpKind = "link-up"
	LinkDown      OpKind = "link-down"
	SetSysctl     OpKind = "set-sysctl"
	RestoreSysctl OpKind = "restore-sysctl"
)

// Addr is an address on a device.
type Addr struct {
	Device string       `json:"device"`
	Prefix netip.Prefix `json:"prefix"`
}

// Op is one write: of Addr (Prefix unset for a link), or of sysctl Name
// from Old to New.
type Op struct {
	Kind           OpKind
	Addr           Addr
	Name, Old, New string
}

func (op Op) String() string {
	switch op.Kind {
	case AddAddr, DelAddr:
		return fmt.Sprintf("%s %s on %s", op.Kind, op.Addr.Prefix, op.Addr.Device)
	case LinkUp, LinkDown:
		return fmt.Sprintf("%s %s", op.Kind, op.Addr.Device)
	}
	return fmt.Sprintf("%s %s %s -> %s", op.Kind, op.Name, op.Old, op.New)
}

// Plan is what Sync writes, in order: sysctls are set before VIPs are
// added and restored after VIPs are removed, so no VIP is ever held while
// ARP answers for it.
type Plan struct {
	Ops []Op
	// Kept are desired VIPs present that hakeeper did not add: used as
	// they are, never removed.
	Kept []Addr
	// Notes are sysctls no longer restored: changed since hakeeper set them.
	Notes []string
	// forgot: record entries were dropped without a write.
	forgot bool
}

// record is the ownership file.
type record struct {
	Version   int                     `json:"version"`
	Addresses []Addr                  `json:"addresses"` // added by hakeeper
	Up        []string                `json:"up"`        // devices it brought up
	Sysctls   map[string]sysctlRecord `json:"sysctls"`
}

type sysctlRecord struct{ Was, Set string }

// Programmer syncs the role against Kernel, recording ownership at StatePath.
type Programmer struct {
	Kernel    Kernel
	StatePath string
}

// Plan computes the writes that take the kernel to want (nil: no role).
func (p *Programmer) Plan(want *model.RealServerRole) (Plan, error) {
	rec, err := p.load()
	if err != nil {
		return Plan{}, err
	}
	return p.plan(want, rec)
}

// plan also drops from rec what needs no write to be forgotten.
func (p *Programmer) plan(want *model.RealServerRole, rec *record) (Plan, error) {
	if want == nil {
		want = &model.RealServerRole{}
	}
	var pl Plan
	var adds, dels []Op
	type devState struct {
		addrs   []netip.Prefix
		up      bool
		err     error
		desired bool
	}
	devs := map[string]*devState{}
	dev := func(name string) *devState {
		if devs[name] == nil {
			a, up, err := p.Kernel.Addrs(name)
			devs[name] = &devState{addrs: a, up: up, err: err}
		}
		return devs[name]
	}
	desired := map[Addr]bool{}
	for _, v := range want.VIPs {
		a := Addr{v.Device, v.Prefix}
		d := dev(v.Device)
		if d.err != nil {
			return pl, fmt.Errorf("device %s: %w%s", v.Device, d.err, moduleHint[v.Device])
		}
		if !d.up {
			adds = append(adds, Op{Kind: LinkUp, Addr: Addr{Device: v.Device}})
			d.up = true
		}
		desired[a], d.desired = true, true
		switch {
		case !slices.Contains(d.addrs, v.Prefix):
			adds = append(adds, Op{Kind: AddAddr, Addr: a})
		case !slices.Contains(rec.Addresses, a):
			pl.Kept = append(pl.Kept, a)
		}
	}
	n := len(rec.Addresses) + len(rec.Up) + len(rec.Sysctls)
	rec.Addresses = slices.DeleteFunc(rec.Addresses, func(a Addr) bool {
		d := dev(a.Device)
		present := d.err == nil && slices.Contains(d.addrs, a.Prefix)
		if present && !desired[a] {
			dels = append(dels, Op{Kind: DelAddr, Addr: a})
		}
		return !present && !desired[a] // gone already
	})
	rec.Up = slices.DeleteFunc(rec.Up, func(name string) bool {
		d := dev(name)
		if d.err == nil && d.up && !d.desired {
			dels = append(dels, Op{Kind: LinkDown, Addr: Addr{Device: name}})
		}
		return !d.desired && (d.err != nil || !d.up)
	})
	for _, s := range want.Sysctls {
		cur, err := p.Kernel.Sysctl(s.Name)
		if err != nil {
			return pl, err
		}
		if cur != s.Value {
			pl.Ops = append(pl.Ops, Op{Kind: SetSysctl, Name: s.Name, Old: cur, New: s.Value})
		}
	}
	pl.Ops = append(append(pl.Ops, adds...), dels...)
	for _, name := range slices.Sorted(maps.Keys(rec.Sysctls)) {
		if slices.ContainsFunc(want.Sysctls, func(s model.Sysctl) bool { return s.Name == name }) {
			continue
		}
		r := rec.Sysctls[name]
		cur, err := p.Kernel.Sysctl(name)
		if err == nil && cur == r.Set {
			pl.Ops = append(pl.Ops, Op{Kind: RestoreSysctl, Name: name, Old: cur, New: r.Was})
			continue
		}
		delete(rec.Sysctls, name)
		if err == nil {
			pl.Notes = append(pl.Notes, fmt.Sprintf("%s is %s, not the %s hakeeper set: changed since, so left as it is (it was %s before)", name, cur, r.Set, r.Was))
		}
	}
	pl.forgot = n != len(rec.Addresses)+len(rec.Up)+len(rec.Sysctls)
	return pl, nil
}

// moduleHint tells how to get a missing tunnel device.
var moduleHint = map[string]string{
	model.TunnelDevice4: " (tun real servers need the ipip module: modprobe ipip)",
	model.TunnelDevice6: " (tun real servers need the ip6_tunnel module: modprobe ip6_tunnel)",
}

// Sync makes the kernel hold want (nil: no role) and returns the plan and
// how many of its operations were done. The record follows every write
// done, also when a later one fails.
func (p *Programmer) Sync(want *model.RealServerRole) (Plan, int, error) {
	rec, err := p.load()
	if err != nil {
		return Plan{}, 0, err
	}
	pl, err := p.plan(want, rec)
	if err != nil {
		return pl, 0, err
	}
	done := 0
	for _, op := range pl.Ops {
		if err = p.do(op); err != nil {
			err = fmt.Errorf("%s: %w", op, err)
			break
		}
		rec.apply(op)
		done++
	}
	if pl.forgot || done > 0 {
		if serr := p.save(rec); serr != nil {
			err = errors.Join(err, fmt.Errorf("recording what hakeeper owns: %w", serr))
		}
	}
	return pl, done, err
}

func (p *Programmer) do(op Op) error {
	switch op.Kind {
	case AddAddr:
		return p.Kernel.AddAddr(op.Addr.Device, op.Addr.Prefix)
	case DelAddr:
		return p.Kernel.DelAddr(op.Addr.Device, op.Addr.Prefix)
	case LinkUp, LinkDown:
		return p.Kernel.SetUp(op.Addr.Device, op.Kind == LinkUp)
	}
	return p.Kernel.SetSysctl(op.Name, op.New)
}

func (r *record) apply(op Op) {
	switch op.Kind {
	case AddAddr: // re-added after drift, it is recorded already
		if !slices.Contains(r.Addresses, op.Addr) {
			r.Addresses = append(r.Addresses, op.Addr)
		}
	case DelAddr:
		r.Addresses = slices.DeleteFunc(r.Addresses, func(a Addr) bool { return a == op.Addr })
	case LinkUp:
		if !slices.Contains(r.Up, op.Addr.Device) {
			r.Up = append(r.Up, op.Addr.Device)
		}
	case LinkDown:
		r.Up = slices.DeleteFunc(r.Up, func(d string) bool { return d == op.Addr.Device })
	case SetSysctl:
		s, ok := r.Sysctls[op.Name]
		if !ok {
			s.Was = op.Old
		}
		s.Set = op.New
		r.Sysctls[op.Name] = s
	case RestoreSysctl:
		delete(r.Sysctls, op.Name)
	}
}

// load reads the record; a missing file records nothing.
func (p *Programmer) load() (*record, error) {
	rec := &record{Version: 1}
	data, err := os.ReadFile(p.StatePath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	case json.Unmarshal(data, rec) != nil || rec.Version != 1:
		return nil, fmt.Errorf("%s: not a version 1 real-server record", p.StatePath)
	}
	if rec.Sysctls == nil {
		rec.Sysctls = map[string]sysctlRecord{}
	}
	return rec, nil
}

func (p *Programmer) save(rec *record) error {
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return lvs.WriteRecord(p.StatePath, append(data, '\n'))
}
