package plan

import (
	"strings"
	"testing"
	"time"
)

// TestWriteDurationMatchesString checks the allocation-free path against
// time.Duration.String on both sides of each boundary it special-cases.
func TestWriteDurationMatchesString(t *testing.T) {
	for _, d := range []time.Duration{
		0, 1, time.Microsecond, 999 * time.Microsecond, time.Millisecond, 10 * time.Millisecond,
		999 * time.Millisecond, 1500 * time.Millisecond, time.Second, 5 * time.Second, 59 * time.Second,
		time.Minute, 90 * time.Second, time.Hour, -time.Second, -5 * time.Millisecond,
	} {
		var b strings.Builder
		writeDuration(&b, d)
		if b.String() != d.String() {
			t.Errorf("writeDuration(%d) = %q, want %q", d, b.String(), d.String())
		}
	}
}
