package vrrpd

// WaitIdleForTest blocks until no hook or check is running; tests call
// it between steps of the fake clock.
func WaitIdleForTest(e *Engine) { e.work.wait() }
