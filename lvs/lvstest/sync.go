package lvstest

import (
	"fmt"
	"slices"
	"sync"
	"syscall"

	"github.com/hakeeper/hakeeper/lvs"
)

var _ lvs.SyncDaemons = (*FakeSync)(nil)

// FakeSync is an in-memory set of IPVS sync daemons that behaves like the
// kernel's: one master and one backup at most (a second start of a state
// fails with EEXIST), stopping an absent one fails with ESRCH, and reads
// return daemons normalized, master first. The zero value runs none.
type FakeSync struct {
	mu      sync.Mutex
	daemons []lvs.SyncDaemon
	// Starts and Stops count the successful calls.
	Starts, Stops int
}

func (f *FakeSync) SyncDaemons() ([]lvs.SyncDaemon, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.daemons), nil
}

func (f *FakeSync) StartSyncDaemon(d lvs.SyncDaemon) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if slices.ContainsFunc(f.daemons, func(x lvs.SyncDaemon) bool { return x.State == d.State }) {
		return fmt.Errorf("start IPVS sync daemon %s: %w", d, syscall.EEXIST)
	}
	f.Starts++
	f.daemons = append(f.daemons, d.Normalize())
	slices.SortFunc(f.daemons, func(a, b lvs.SyncDaemon) int { return int(a.State) - int(b.State) })
	return nil
}

func (f *FakeSync) StopSyncDaemon(state lvs.SyncState) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.daemons, func(x lvs.SyncDaemon) bool { return x.State == state })
	if i < 0 {
		return fmt.Errorf("stop IPVS %s sync daemon: %w", state, syscall.ESRCH)
	}
	f.Stops++
	f.daemons = slices.Delete(f.daemons, i, i+1)
	return nil
}
