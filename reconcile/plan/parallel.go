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
		var checks checkMemo
		for i := lo; i < hi; i++ {
			d := &desired[i]
			out := p.Changes[start[i]:start[i+1]]
			out[0] = Change{Action: Create, Kind: KindService, Group: d.Name, Name: ServiceName(d), Fields: createdIn(&fields, serviceFields, d)}
			for k := range d.RealServers {
				rs := &d.RealServers[k]
				out[k+1] = Change{Action: Create, Kind: KindRealServer, Group: d.Name, Name: RealServerName(rs), Fields: createdRealServerIn(&fields, &checks, rs)}
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

// createdRealServerIn is createdIn for a real server, the text of its
// check taken from checks.
func createdRealServerIn(slab *fieldSlab, checks *checkMemo, rs *model.RealServerSpec) []FieldChange {
	var buf [8]FieldChange
	set := buf[:0]
	for i := range realServerFields {
		f := &realServerFields[i]
		var s string
		if f.name == "check" {
			s = checks.text(rs.Check)
		} else {
			s = f.str(rs)
		}
		if s != "" {
			set = append(set, FieldChange{Name: f.name, New: s})
		}
	}
	if cap(slab.block)-len(slab.block) < len(set) {
		slab.block = make([]FieldChange, 0, max(len(set), fieldSlabSize))
	}
	n := len(slab.block)
	slab.block = append(slab.block, set...)
	return slab.block[n:len(slab.block):len(slab.block)]
}

// checkMemo keeps the text of the last check shown. The real servers of
// a service nearly always have equal checks (each its own copy), and an
// offline plan of 100,000 real servers built 100,000 equal strings.
type checkMemo struct {
	check *model.CheckSpec
	str   string
}

// text is CheckString(c): checkEq compares everything CheckString shows.
func (m *checkMemo) text(c *model.CheckSpec) string {
	if c == nil {
		return CheckString(nil)
	}
	// The desired state shares one spec between servers with equal
	// checks: the pointer answers most calls.
	if m.check != c && (m.check == nil || !checkEq(m.check, c)) {
		m.check, m.str = c, CheckString(c)
	}
	return m.str
}
