package check

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestFirstDueWithinIntervalOnASlot(t *testing.T) {
	base := time.Unix(1_700_000_000, 0)
	for _, every := range []time.Duration{time.Millisecond, slot, 15 * time.Millisecond, time.Second, 5 * time.Second} {
		for range 2000 {
			now := base.Add(time.Duration(rand.N(int64(time.Second))))
			due := firstDue(now, every)
			if due.Before(now) || due.Sub(now) >= max(every, slot) {
				t.Fatalf("every %v, now %v: first check %v later", every, now, due.Sub(now))
			}
			if !due.Truncate(slot).Equal(due) {
				t.Fatalf("every %v: first check %v is not on a %v slot", every, due, slot)
			}
		}
	}
}
