// Package lvstest holds an in-memory IPVS table implementing lvs.IPVS for
// tests of code that programs IPVS. It behaves like the kernel where that
// matters to callers: duplicate services and destinations fail, changing
// an absent one fails, deleting a service deletes its destinations, and
// reads return normalized values in creation order.
package lvstest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"syscall"

	"github.com/hakeeper/hakeeper/lvs"
)

var _ lvs.IPVS = (*Fake)(nil)

// Fake is an in-memory IPVS table. The zero value is empty and ready.
type Fake struct {
	mu       sync.Mutex
	services []*entry
	// byKey indexes services so lookups stay O(1) in tables of 10,000
	// services (benchmarks of callers would otherwise time the fake).
	byKey map[lvs.ServiceKey]*entry
	// Writes counts successful and failed write calls; Reads counts
	// Services and Destinations calls.
	Writes int
	Reads  int
	// FailAt, when positive, makes the FailAt-th write call (counting
	// from 1 over the fake's life) fail with FailErr.
	FailAt  int
	FailErr error
}

type entry struct {
	svc   lvs.Service
	dests []lvs.Destination
}

// write runs one write call under the lock: counted, and failed instead
// when it is the FailAt-th.
func (f *Fake) write(change func() error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Writes++
	if f.FailAt > 0 && f.Writes == f.FailAt {
		if f.FailErr != nil {
			return f.FailErr
		}
		return errors.New("injected failure")
	}
	return change()
}

// Services returns the services in creation order.
func (f *Fake) Services() ([]lvs.Service, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Reads++
	out := make([]lvs.Service, len(f.services))
	for i, e := range f.services {
		out[i] = e.svc
	}
	return out, nil
}

// Destinations returns svc's destinations in creation order.
func (f *Fake) Destinations(svc lvs.Service) ([]lvs.Destination, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Reads++
	e, err := f.service(svc)
	if err != nil {
		return nil, err
	}
	return slices.Clone(e.dests), nil
}

// service returns the entry of svc, or ENOENT.
func (f *Fake) service(svc lvs.Service) (*entry, error) {
	e := f.byKey[svc.Key()]
	if e == nil {
		return nil, fmt.Errorf("service %s: %w", svc.Key(), syscall.ENOENT)
	}
	return e, nil
}

func (f *Fake) AddService(svc lvs.Service) error {
	return f.write(func() error {
		if f.byKey[svc.Key()] != nil {
			return fmt.Errorf("service %s: %w", svc.Key(), syscall.EEXIST)
		}
		e := &entry{svc: svc.Normalize()}
		f.services = append(f.services, e)
		if f.byKey == nil {
			f.byKey = map[lvs.ServiceKey]*entry{}
		}
		f.byKey[e.svc.Key()] = e
		return nil
	})
}

func (f *Fake) UpdateService(svc lvs.Service) error {
	return f.write(func() error {
		e, err := f.service(svc)
		if err == nil {
			e.svc = svc.Normalize()
		}
		return err
	})
}

func (f *Fake) DeleteService(svc lvs.Service) error {
	return f.write(func() error {
		e, err := f.service(svc)
		if err == nil {
			delete(f.byKey, e.svc.Key())
			f.services = slices.DeleteFunc(f.services, func(x *entry) bool { return x == e })
		}
		return err
	})
}

// writeDestination runs a destination write call: change gets svc's entry
// and the position of dst among its destinations (-1 when absent).
func (f *Fake) writeDestination(svc lvs.Service, dst lvs.Destination, change func(e *entry, i int) error) error {
	return f.write(func() error {
		e, err := f.service(svc)
		if err != nil {
			return err
		}
		k := dst.Normalize().Key()
		return change(e, slices.IndexFunc(e.dests, func(d lvs.Destination) bool { return d.Key() == k }))
	})
}

func (f *Fake) AddDestination(svc lvs.Service, dst lvs.Destination) error {
	return f.writeDestination(svc, dst, func(e *entry, i int) error {
		if i >= 0 {
			return fmt.Errorf("destination %s: %w", dst.Key(), syscall.EEXIST)
		}
		e.dests = append(e.dests, dst.Normalize())
		return nil
	})
}

func (f *Fake) UpdateDestination(svc lvs.Service, dst lvs.Destination) error {
	return f.writeDestination(svc, dst, func(e *entry, i int) error {
		if i < 0 {
			return fmt.Errorf("destination %s: %w", dst.Key(), syscall.ENOENT)
		}
		e.dests[i] = dst.Normalize()
		return nil
	})
}

func (f *Fake) DeleteDestination(svc lvs.Service, dst lvs.Destination) error {
	return f.writeDestination(svc, dst, func(e *entry, i int) error {
		if i < 0 {
			return fmt.Errorf("destination %s: %w", dst.Key(), syscall.ENOENT)
		}
		e.dests = slices.Delete(e.dests, i, i+1)
		return nil
	})
}

// Table returns a copy of the table, for assertions.
func (f *Fake) Table() []lvs.VirtualServer {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]lvs.VirtualServer, len(f.services))
	for i, e := range f.services {
		out[i] = lvs.VirtualServer{Service: e.svc, Destinations: slices.Clone(e.dests)}
	}
	return out
}
