package check

import "testing"

func TestHealthRiseFall(t *testing.T) {
	tests := []struct {
		desc       string
		startUp    bool
		rise, fall int
		outcomes   string // p = pass, f = fail
		wantUp     string // state after each outcome: u = up, d = down
	}{
		{desc: "defaults flip on every change", startUp: true, rise: 1, fall: 1, outcomes: "fpfp", wantUp: "dudu"},
		{desc: "zero rise and fall act as 1", startUp: true, rise: 0, fall: 0, outcomes: "fp", wantUp: "du"},
		{desc: "fall 3 needs three failures in a row", startUp: true, rise: 1, fall: 3, outcomes: "ffpfff", wantUp: "uuuuud"},
		{desc: "rise 2 from down", startUp: false, rise: 2, fall: 1, outcomes: "pfppp", wantUp: "ddduu"},
		{desc: "start down stays down on failures", startUp: false, rise: 1, fall: 1, outcomes: "ff", wantUp: "dd"},
		{desc: "alternating never flips with rise=fall=2", startUp: true, rise: 2, fall: 2, outcomes: "fpfpfp", wantUp: "uuuuuu"},
		{desc: "passes while up do not accumulate into a later rise", startUp: true, rise: 3, fall: 1, outcomes: "pppfpp", wantUp: "uuuddd"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			h := health{up: tc.startUp}
			prev := h.up
			for i, o := range tc.outcomes {
				flipped := h.record(o == 'p', tc.rise, tc.fall)
				got := byte('d')
				if h.up {
					got = 'u'
				}
				if got != tc.wantUp[i] {
					t.Fatalf("after outcome %d (%c): state %c, want %c", i, o, got, tc.wantUp[i])
				}
				if flipped != (h.up != prev) {
					t.Fatalf("after outcome %d: flipped=%v but state went %v→%v", i, flipped, prev, h.up)
				}
				prev = h.up
			}
		})
	}
}
