package check

// health is one server's up/down state with keepalived-style hysteresis:
// Rise consecutive passes bring a down server up, Fall consecutive
// failures take an up server down. A pass resets the failure run and a
// failure resets the pass run, so an alternating server never flips.
type health struct {
	up     bool
	passes int // consecutive passes
	fails  int // consecutive failures
}

// record counts one attempt's outcome and reports whether the state flipped.
func (h *health) record(ok bool, rise, fall int) (flipped bool) {
	if ok {
		h.passes, h.fails = h.passes+1, 0
	} else {
		h.fails, h.passes = h.fails+1, 0
	}
	flipped = h.up && h.fails >= max(fall, 1) || !h.up && h.passes >= max(rise, 1)
	if flipped {
		h.up = !h.up
	}
	return flipped
}
