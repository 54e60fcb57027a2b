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
	rise, fall = max(rise, 1), max(fall, 1)
	if ok {
		h.passes++
		h.fails = 0
		if !h.up && h.passes >= rise {
			h.up = true
			return true
		}
		return false
	}
	h.fails++
	h.passes = 0
	if h.up && h.fails >= fall {
		h.up = false
		return true
	}
	return false
}
