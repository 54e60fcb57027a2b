package marks_test

import (
	"slices"
	"testing"

	"github.com/hakeeper/hakeeper/lvs/marks"
	"github.com/hakeeper/hakeeper/lvs/marks/markstest"
)

// Rules are compared as a multiset: a rule present twice (added again by
// hand) loses its copy, a wanted rule present once stays.
func TestDiffKeepsOneCopy(t *testing.T) {
	a, b := ftp[0], ftp[1]
	live := []marks.Live{{Rule: a, Handle: 1}, {Rule: a, Handle: 2}, {Rule: dns, Handle: 3}}
	p := marks.Diff([]marks.Rule{a, b}, live, true)
	if !slices.Equal(p.Add, []marks.Rule{b}) || len(p.Delete) != 2 || p.Delete[0].Handle != 2 || p.Delete[1].Handle != 3 {
		t.Errorf("planned %+v, want %v added and handles 2 (the copy) and 3 (dns) deleted", p, b)
	}
}

// Sync through the fake: creation, no-op, removal of the table.
func TestSyncFake(t *testing.T) {
	f := &markstest.Fake{}
	if p, err := marks.Sync(f, ftp); err != nil || p.Ops() != len(ftp) || !f.Present {
		t.Fatalf("first sync %+v, %v", p, err)
	}
	if p, err := marks.Sync(f, ftp); err != nil || p.Ops() != 0 || f.Writes != 1 {
		t.Fatalf("second sync %+v, %v, %d writes; want none", p, err, f.Writes)
	}
	if p, err := marks.Sync(f, nil); err != nil || !p.RemoveTable || f.Present {
		t.Fatalf("empty sync %+v, %v; table present %v", p, err, f.Present)
	}
}
