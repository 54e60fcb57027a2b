package model

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// parallelServices is the number of services from which Desired and
// Validate work on them on several goroutines; below it starting them
// costs more than the work (a service takes a few microseconds).
const parallelServices = 1024

// serviceChunk is how many services a goroutine resolves at a time:
// small enough to balance the cores when other processes compete for
// them, large enough that handing out chunks costs nothing measurable.
const serviceChunk = 256

// inChunks calls do for consecutive ranges [lo, hi) covering [0, n),
// handed out in increasing order to up to GOMAXPROCS goroutines. Once
// do returns false no further range is handed out, so every range
// before the one that stopped has been done completely on return.
func inChunks(n, chunk int, do func(lo, hi int) bool) {
	workers := min(runtime.GOMAXPROCS(0), (n+chunk-1)/chunk)
	var next atomic.Int64
	var stopped atomic.Bool
	work := func() {
		for !stopped.Load() {
			lo := int(next.Add(int64(chunk)) - int64(chunk))
			if lo >= n {
				return
			}
			if !do(lo, min(lo+chunk, n)) {
				stopped.Store(true)
			}
		}
	}
	var wg sync.WaitGroup
	for range workers - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
}

// services resolves the named services for the node, in the order of
// names, leaving out those of groups the node is not in. The first
// error in that order is returned, as resolving them one by one would.
func (r *resolver) services(names []string) ([]VirtualService, error) {
	out := make([]VirtualService, len(names))
	keep := make([]bool, len(names))
	errs := make([]error, len(names))
	resolve := func(lo, hi int) bool {
		for i := lo; i < hi; i++ {
			vs, ok, err := r.service(names[i], r.c.Services[names[i]])
			if err != nil {
				errs[i] = err
				return false
			}
			out[i], keep[i] = vs, ok
		}
		return true
	}
	if len(names) < parallelServices {
		resolve(0, len(names))
	} else {
		inChunks(len(names), serviceChunk, resolve)
	}
	n := 0
	for i := range out {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if keep[i] {
			if i != n {
				out[n] = out[i]
			}
			n++
		}
	}
	clear(out[n:])
	return out[:n], nil
}
