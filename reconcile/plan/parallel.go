package plan

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/hakeeper/hakeeper/model"
)

// parallelCreates is the number of new services from which their changes
// are built on several goroutines; below it starting them costs more
// than the work.
const parallelCreates = 1024

// createChunk is how many services a goroutine builds at a time: small
// enough to balance the cores when other processes compete for them.
const createChunk = 256

// createServices appends a create change for each service, each followed
// by its real servers, as servicesDiff does for services not live. Every
// service's changes have a known place in the list, so chunks of them
// are filled on up to GOMAXPROCS goroutines in any order and the result
// is the same as appending one by one.
func createServices(p *Plan, desired []model.VirtualService) {
	if len(desired) == 0 {
		return
	}
	start := make([]int, len(desired)+1)
	start[0] = len(p.Changes)
	for i := range desired {
		start[i+1] = start[i] + 1 + len(desired[i].RealServers)
	}
	p.Changes = append(p.Changes, make([]Change, start[len(desired)]-len(p.Changes))...)
	build := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			d := &desired[i]
			out := p.Changes[start[i]:start[i+1]]
			out[0] = Change{Action: Create, Kind: KindService, Group: d.Name, Name: ServiceName(d), Fields: created(serviceFields, d)}
			for k := range d.RealServers {
				rs := &d.RealServers[k]
				out[k+1] = Change{Action: Create, Kind: KindRealServer, Group: d.Name, Name: RealServerName(rs), Fields: created(realServerFields, rs)}
			}
		}
	}
	workers := min(runtime.GOMAXPROCS(0), (len(desired)+createChunk-1)/createChunk)
	if len(desired) < parallelCreates || workers <= 1 {
		build(0, len(desired))
		return
	}
	var next atomic.Int64
	work := func() {
		for {
			lo := int(next.Add(createChunk) - createChunk)
			if lo >= len(desired) {
				return
			}
			build(lo, min(lo+createChunk, len(desired)))
		}
	}
	var wg sync.WaitGroup
	for range workers - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
}
