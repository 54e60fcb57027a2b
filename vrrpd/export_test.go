package vrrpd

import "time"

// WaitIdleForTest blocks until no hook or check is running; tests call
// it between steps of the fake clock.
func WaitIdleForTest(e *Engine) { e.work.wait() }

// KillForTest ends e as SIGKILL ends the process: timers, sockets and
// checks stop, but nothing is said on the wire, no VIP is deleted and the
// VIP record is left as it is.
func KillForTest(e *Engine) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return
	}
	for _, in := range e.instances {
		in.disarm()
		in.garpGen++
		e.detach(in)
	}
	for _, c := range e.checks {
		c.cancel()
	}
	e.stopped = true
	close(e.done)
}

// SplitBrainHold is how long a split-brain suspicion outlives the last
// rejected advert, for advert intervals ours and theirs.
func SplitBrainHold(ours, theirs time.Duration) time.Duration { return splitBrainHold(ours, theirs) }
