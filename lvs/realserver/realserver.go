// Package realserver programs a node's part as a real server of LVS dr
// and tun services (model.RealServerRole): the VIPs as host addresses on
// the loopback or tunnel device and the ARP sysctls. Like the IPVS
// programmer it changes only what differs, and records in the state
// directory what it added and what each sysctl was before it changed it:
// an address it did not add is never removed, and a sysctl goes back to
// its old value when no longer needed (unless someone changed it since).
package realserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"

	"github.com/google/renameio/v2"

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

// OpKind is what an operation does.
type OpKind string

const (
	AddAddr  OpKind = "add-address"
	DelAddr  OpKind = "delete-address"
	LinkUp   OpKind = "link-up"
	LinkDown OpKind = "link-down"
	// SetSysctl sets a desired value, RestoreSysctl puts back the one
	// found before hakeeper set it.
	SetSysctl     OpKind = "set-sysctl"
	RestoreSysctl OpKind = "restore-sysctl"
)

// Addr is an address on a device.
type Addr struct {
	Device string       `json:"device"`
	Prefix netip.Prefix `json:"prefix"`
}

// Op is one write: an address or link op names Addr (Prefix unset for
// links), a sysctl op Name with Old and New values.
type Op struct {
	Kind     OpKind
	Addr     Addr
	Name     string
	Old, New string
}

// Plan is what Sync would write, in order: sysctls set before VIPs are
// added (so no VIP is ever answered for), VIPs removed before sysctls are
// restored.
type Plan struct {
	Ops []Op
	// Kept are desired VIPs already present that hakeeper did not add:
	// used as they are and never removed.
	Kept []Addr
	// Notes are record entries dropped without a write (logged by Sync).
	Notes []string
	// forget are record entries dropped before the ops run.
	forgetAddrs             []Addr
	forgetUp, forgetSysctls []string
}

// record is the ownership file: addresses hakeeper added, devices it
// brought up, and per sysctl the value found and the value set.
type record struct {
	Version   int                     `json:"version"`
	Addresses []Addr                  `json:"addresses"`
	Up        []string                `json:"up"`
	Sysctls   map[string]sysctlRecord `json:"sysctls"`
}

type sysctlRecord struct {
	Was string `json:"was"`
	Set string `json:"set"`
}

// Programmer syncs the role against Kernel, recording ownership at StatePath.
type Programmer struct {
	Kernel    Kernel
	StatePath string
	Log       *slog.Logger
}

// Plan computes the writes that take the kernel to want (nil: no role).
func (p *Programmer) Plan(want *model.RealServerRole) (Plan, error) {
	rec, err := p.load()
	if err != nil {
		return Plan{}, err
	}
	return p.plan(want, rec)
}

func (p *Programmer) plan(want *model.RealServerRole, rec *record) (Plan, error) {
	if want == nil {
		want = &model.RealServerRole{}
	}
	var pl Plan
	var adds, dels []Op
	type devState struct {
		addrs []netip.Prefix
		up    bool
		err   error
	}
	devs := map[string]*devState{}
	dev := func(name string) *devState {
		if devs[name] == nil {
			a, up, err := p.Kernel.Addrs(name)
			devs[name] = &devState{a, up, err}
		}
		return devs[name]
	}
	desired := map[Addr]bool{}
	for _, v := range want.VIPs {
		a := Addr{v.Device, v.Prefix}
		desired[a] = true
		d := dev(v.Device)
		if d.err != nil {
			return pl, fmt.Errorf("device %s: %w%s", v.Device, d.err, moduleHint[v.Device])
		}
		if !d.up {
			adds = append(adds, Op{Kind: LinkUp, Addr: Addr{Device: v.Device}})
			d.up = true
		}
		switch {
		case !slices.Contains(d.addrs, v.Prefix):
			adds = append(adds, Op{Kind: AddAddr, Addr: a})
		case !slices.Contains(rec.Addresses, a):
			pl.Kept = append(pl.Kept, a)
		}
	}
	for _, a := range rec.Addresses {
		switch d := dev(a.Device); {
		case desired[a]:
		case d.err == nil && slices.Contains(d.addrs, a.Prefix):
			dels = append(dels, Op{Kind: DelAddr, Addr: a})
		default:
			pl.forgetAddrs = append(pl.forgetAddrs, a)
		}
	}
	for _, name := range rec.Up {
		if !slices.ContainsFunc(want.VIPs, func(v model.RealServerVIP) bool { return v.Device == name }) {
			if d := dev(name); d.err == nil && d.up {
				dels = append(dels, Op{Kind: LinkDown, Addr: Addr{Device: name}})
			} else {
				pl.forgetUp = append(pl.forgetUp, name)
			}
		}
	}
	wanted := map[string]bool{}
	for _, s := range want.Sysctls {
		wanted[s.Name] = true
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
		if wanted[name] {
			continue
		}
		r := rec.Sysctls[name]
		cur, err := p.Kernel.Sysctl(name)
		if err == nil && cur == r.Set {
			pl.Ops = append(pl.Ops, Op{Kind: RestoreSysctl, Name: name, Old: cur, New: r.Was})
			continue
		}
		pl.forgetSysctls = append(pl.forgetSysctls, name)
		if err == nil {
			pl.Notes = append(pl.Notes, fmt.Sprintf("%s is %s, not the %s hakeeper set: changed since, so left as it is (it was %s before)", name, cur, r.Set, r.Was))
		}
	}
	return pl, nil
}

// moduleHint tells how to get a missing tunnel device.
var moduleHint = map[string]string{
	model.TunnelDevice4: " (tun real servers need the ipip module: modprobe ipip)",
	model.TunnelDevice6: " (tun real servers need the ip6_tunnel module: modprobe ip6_tunnel)",
}

// Sync makes the kernel hold want (nil: no role) and returns the plan and
// how many of its operations were done. The record follows every write,
// also when a later one fails.
func (p *Programmer) Sync(want *model.RealServerRole) (Plan, int, error) {
	rec, err := p.load()
	if err != nil {
		return Plan{}, 0, err
	}
	pl, err := p.plan(want, rec)
	if err != nil {
		return pl, 0, err
	}
	dirty := len(pl.forgetAddrs)+len(pl.forgetUp)+len(pl.forgetSysctls) > 0
	rec.Addresses = slices.DeleteFunc(rec.Addresses, func(a Addr) bool { return slices.Contains(pl.forgetAddrs, a) })
	rec.Up = slices.DeleteFunc(rec.Up, func(d string) bool { return slices.Contains(pl.forgetUp, d) })
	for _, name := range pl.forgetSysctls {
		delete(rec.Sysctls, name)
	}
	for _, n := range pl.Notes {
		p.log().Warn("real-server role: " + n)
	}
	done := 0
	for _, op := range pl.Ops {
		if err = p.do(op); err != nil {
			break
		}
		rec.apply(op)
		done++
	}
	if dirty || done > 0 {
		if serr := p.save(rec); serr != nil {
			err = errors.Join(err, fmt.Errorf("recording what hakeeper owns: %w", serr))
		}
	}
	return pl, done, err
}

func (p *Programmer) log() *slog.Logger {
	if p.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return p.Log
}

func (p *Programmer) do(op Op) error {
	var err error
	switch op.Kind {
	case AddAddr:
		err = p.Kernel.AddAddr(op.Addr.Device, op.Addr.Prefix)
	case DelAddr:
		err = p.Kernel.DelAddr(op.Addr.Device, op.Addr.Prefix)
	case LinkUp, LinkDown:
		err = p.Kernel.SetUp(op.Addr.Device, op.Kind == LinkUp)
	default:
		err = p.Kernel.SetSysctl(op.Name, op.New)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
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

func (r *record) apply(op Op) {
	switch op.Kind {
	case AddAddr:
		// Re-added after drift, it is already recorded.
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

const recordVersion = 1

// load reads the record; a missing file records nothing.
func (p *Programmer) load() (*record, error) {
	rec := &record{Version: recordVersion, Addresses: []Addr{}, Up: []string{}, Sysctls: map[string]sysctlRecord{}}
	data, err := os.ReadFile(p.StatePath)
	if errors.Is(err, fs.ErrNotExist) {
		return rec, nil
	}
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(rec); err != nil {
		return nil, fmt.Errorf("%s: not a real-server record: %v", p.StatePath, err)
	}
	if rec.Version != recordVersion {
		return nil, fmt.Errorf("%s: version %d is not %d", p.StatePath, rec.Version, recordVersion)
	}
	if rec.Sysctls == nil {
		rec.Sysctls = map[string]sysctlRecord{}
	}
	return rec, nil
}

// save replaces the record atomically and syncs its directory: a record
// lost in a crash would leave addresses hakeeper no longer knows it added.
func (p *Programmer) save(rec *record) error {
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(p.StatePath)
	if err := renameio.WriteFile(p.StatePath, append(data, '\n'), 0o600, renameio.WithTempDir(dir)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
