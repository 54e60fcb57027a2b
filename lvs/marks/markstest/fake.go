// Package markstest holds an in-memory marks.Table for tests of code
// that keeps fwmark rules. Like the kernel it creates the table on the
// first write, gives every rule a new handle, and refuses to delete a
// handle it does not hold (so a diff that deletes twice fails).
package markstest

import (
	"fmt"
	"slices"
	"sync"

	"github.com/hakeeper/hakeeper/lvs/marks"
)

// Fake is an in-memory table; the zero value is absent. Tests may change
// Present and Live directly (under no concurrent use) to model drift.
type Fake struct {
	mu      sync.Mutex
	Present bool
	Live    []marks.Live
	handle  uint64
	// Writes counts Write and Remove calls.
	Writes int
}

func (f *Fake) Rules() ([]marks.Live, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.Live), f.Present, nil
}

func (f *Fake) Write(del []marks.Live, add []marks.Rule) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Writes++
	f.Present = true
	for _, d := range del {
		i := slices.IndexFunc(f.Live, func(l marks.Live) bool { return l.Handle == d.Handle })
		if i < 0 {
			return fmt.Errorf("delete rule handle %d: no such rule", d.Handle)
		}
		f.Live = slices.Delete(f.Live, i, i+1)
	}
	for _, r := range add {
		f.handle++
		f.Live = append(f.Live, marks.Live{Rule: r, Handle: f.handle})
	}
	return nil
}

func (f *Fake) Remove() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Writes++
	if !f.Present {
		return fmt.Errorf("remove table: no such table")
	}
	f.Present, f.Live = false, nil
	return nil
}
