package plan

import (
	"runtime"
	"slices"
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
	// Every element of the new part is written below.
	p.Changes = slices.Grow(p.Changes, start[len(desired)]-len(p.Changes))[:start[len(desired)]]
	build := func(lo, hi int) {
		var fields fieldSlab
		for i := lo; i < hi; i++ {
			d := &desired[i]
			out := p.Changes[start[i]:start[i+1]]
			out[0] = Change{Action: Create, Kind: KindService, Group: d.Name, Name: ServiceName(d), Fields: createdIn(&fields, serviceFields, d)}
			for k := range d.RealServers {
				rs := &d.RealServers[k]
				out[k+1] = Change{Action: Create, Kind: KindRealServer, Group: d.Name, Name: RealServerName(rs), Fields: createdIn(&fields, realServerFields, rs)}
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

// fieldSlab hands out the field lists of created objects from shared
// blocks: one allocation per object was 110,000 small allocations in the
// offline plan of a large cluster. Each list is capped at its length, so
// appending to one copies it instead of writing into the next.
type fieldSlab struct{ block []FieldChange }

const fieldSlabSize = 1024

// createdIn is created with the list taken from slab.
func createdIn[T any](slab *fieldSlab, fields []field[T], v *T) []FieldChange {
	var buf [32]FieldChange
	if len(fields) > len(buf) {
		return appendSet(nil, fields, v)
	}
	set := appendSet(buf[:0], fields, v)
	if cap(slab.block)-len(slab.block) < len(set) {
		slab.block = make([]FieldChange, 0, max(len(set), fieldSlabSize))
	}
	n := len(slab.block)
	slab.block = append(slab.block, set...)
	return slab.block[n:len(slab.block):len(slab.block)]
}
