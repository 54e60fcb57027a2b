// Package bgptest has an in-memory bgp.Speaker for the daemon's tests.
package bgptest

import (
	"errors"
	"sync"

	"github.com/hakeeper/hakeeper/vrrpd/bgp"
)

// Fake records what it is told to run. Its peers are established unless
// Down names them; Err, when set, fails the next Apply.
type Fake struct {
	mu      sync.Mutex
	running bgp.Config
	applies int
	stopped bool
	Down    map[string]bool
	Err     error
}

var _ bgp.Speaker = (*Fake)(nil)

// Apply implements bgp.Speaker.
func (f *Fake) Apply(c bgp.Config) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return errors.New("bgptest: stopped")
	}
	if err := f.Err; err != nil {
		f.Err = nil
		return err
	}
	c.Sort()
	f.running = c
	f.applies++
	return nil
}

// Status implements bgp.Speaker.
func (f *Fake) Status() bgp.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	var st bgp.Status
	for _, p := range f.running.Peers {
		ps := bgp.PeerStatus{Address: p.Address, ASN: p.ASN, State: "established"}
		if f.Down[p.Address.String()] {
			ps.State = "active"
		}
		if p.BFD != nil {
			ps.BFD = "up"
		}
		st.Peers = append(st.Peers, ps)
	}
	st.Announced = append(st.Announced, f.running.Routes...)
	return st
}

// Stop implements bgp.Speaker.
func (f *Fake) Stop() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	// Running keeps the last Config applied: a test sees whether the
	// routes were withdrawn before the stop.
	f.stopped = true
	return nil
}

// Running returns the Config last applied.
func (f *Fake) Running() bgp.Config {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.running
}

// Stopped reports whether Stop was called.
func (f *Fake) Stopped() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stopped
}
