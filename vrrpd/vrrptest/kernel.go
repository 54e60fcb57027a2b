package vrrptest

import (
	"context"
	"errors"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/vrrpd"
)

var (
	_ vrrpd.Addresses = (*Addresses)(nil)
	_ vrrpd.Announcer = (*Announcer)(nil)
	_ vrrpd.Links     = (*Links)(nil)
	_ vrrpd.Runner    = (*Runner)(nil)
)

// Addresses is a per-device address table.
type Addresses struct {
	mu            sync.Mutex
	byDev         map[string][]netip.Prefix
	adds, deletes int
}

// NewAddresses returns an empty table.
func NewAddresses() *Addresses { return &Addresses{byDev: map[string][]netip.Prefix{}} }

// Set puts prefixes on device as an administrator would (not counted).
func (a *Addresses) Set(device string, prefixes ...netip.Prefix) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.byDev[device] = append([]netip.Prefix(nil), prefixes...)
}

// List returns the prefixes on device.
func (a *Addresses) List(device string) ([]netip.Prefix, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]netip.Prefix(nil), a.byDev[device]...), nil
}

// Add puts vip on its device unless its address is there.
func (a *Addresses) Add(vip model.VIPSpec) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.adds++
	if !a.has(vip.Device, vip.Prefix.Addr()) {
		a.byDev[vip.Device] = append(a.byDev[vip.Device], vip.Prefix)
	}
	return nil
}

// AddNew puts vip on its device unless its address is there, and
// reports whether it did; one that did counts as an Add.
func (a *Addresses) AddNew(vip model.VIPSpec) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.has(vip.Device, vip.Prefix.Addr()) {
		return false, nil
	}
	a.adds++
	a.byDev[vip.Device] = append(a.byDev[vip.Device], vip.Prefix)
	return true, nil
}

// Delete removes vip's address from its device.
func (a *Addresses) Delete(vip model.VIPSpec) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.deletes++
	a.byDev[vip.Device] = slices.DeleteFunc(a.byDev[vip.Device], func(p netip.Prefix) bool { return p.Addr() == vip.Prefix.Addr() })
	return nil
}

// Has reports whether addr is on device.
func (a *Addresses) Has(device string, addr netip.Addr) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.has(device, addr)
}

func (a *Addresses) has(device string, addr netip.Addr) bool {
	return slices.ContainsFunc(a.byDev[device], func(p netip.Prefix) bool { return p.Addr() == addr })
}

// Counts returns how many Add and Delete calls were made.
func (a *Addresses) Counts() (adds, deletes int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.adds, a.deletes
}

// Announcement is one Announce call.
type Announcement struct {
	Time   time.Time
	Device string
	Addrs  []netip.Addr
}

// Announcer records announcements with the clock's time.
type Announcer struct {
	clock vrrpd.Clock
	mu    sync.Mutex
	log   []Announcement
}

// NewAnnouncer returns an announcer stamping records with clock.
func NewAnnouncer(clock vrrpd.Clock) *Announcer { return &Announcer{clock: clock} }

// Announce records the call.
func (a *Announcer) Announce(device string, addrs []netip.Addr) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.log = append(a.log, Announcement{Time: a.clock.Now(), Device: device, Addrs: append([]netip.Addr(nil), addrs...)})
	return nil
}

// Announcements returns every call so far.
func (a *Announcer) Announcements() []Announcement {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Announcement(nil), a.log...)
}

// Links holds link states; links never Set are up.
type Links struct {
	mu       sync.Mutex
	down     map[string]bool
	watchers map[int]func(string)
	nextID   int
}

// NewLinks returns a table where every link is up.
func NewLinks() *Links { return &Links{down: map[string]bool{}, watchers: map[int]func(string){}} }

// Up reports the link's state.
func (l *Links) Up(name string) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.down[name], nil
}

// Set changes a link's state and calls the watchers (synchronously).
func (l *Links) Set(name string, up bool) {
	l.mu.Lock()
	l.down[name] = !up
	fs := slices.Collect(maps.Values(l.watchers))
	l.mu.Unlock()
	for _, f := range fs {
		f(name)
	}
}

// Watchers returns how many Watch calls are active.
func (l *Links) Watchers() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.watchers)
}

// Watch calls f on every Set until ctx ends.
func (l *Links) Watch(ctx context.Context, f func(name string)) error {
	l.mu.Lock()
	id := l.nextID
	l.nextID++
	l.watchers[id] = f
	l.mu.Unlock()
	<-ctx.Done()
	l.mu.Lock()
	delete(l.watchers, id)
	l.mu.Unlock()
	return nil
}

// Call is one Runner.Run call.
type Call struct {
	Time time.Time
	Cmd  model.Command
	User string
	Args []string
	// Timeout is the time left on the context's deadline (0: none).
	Timeout time.Duration
}

// Runner records calls and returns exit codes set per command string
// (default 0).
type Runner struct {
	clock vrrpd.Clock
	mu    sync.Mutex
	calls []Call
	exit  map[string]int
	fail  map[string]error
}

// NewRunner returns a runner where every command exits 0.
func NewRunner(clock vrrpd.Clock) *Runner {
	return &Runner{clock: clock, exit: map[string]int{}, fail: map[string]error{}}
}

// SetExit makes cmd (by its String form) exit with code from now on.
func (r *Runner) SetExit(cmd string, code int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.exit[cmd] = code
}

// SetError makes cmd fail to run (as a timeout would).
func (r *Runner) SetError(cmd string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail[cmd] = err
}

// ErrTimeout is a convenient error for SetError.
var ErrTimeout = errors.New("vrrptest: command timed out")

// Run records the call and returns the configured result.
func (r *Runner) Run(ctx context.Context, cmd model.Command, user string, args ...string) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := Call{Time: r.clock.Now(), Cmd: cmd, User: user, Args: append([]string(nil), args...)}
	if dl, ok := ctx.Deadline(); ok {
		c.Timeout = time.Until(dl).Round(time.Second)
	}
	r.calls = append(r.calls, c)
	if err := r.fail[cmd.String()]; err != nil {
		return -1, err
	}
	return r.exit[cmd.String()], nil
}

// Calls returns every call so far.
func (r *Runner) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Call(nil), r.calls...)
}
