package kernel

import (
	"time"

	"github.com/hakeeper/hakeeper/vrrpd"
)

// Clock is the real clock, on the Go runtime's timers. Their lateness,
// the scheduler's, is small against the shortest Master_Down_Interval
// (three 20 ms adverts); what matters more, when an advert arrived, is
// the kernel's receive timestamp (SO_TIMESTAMPNS, conn.go), from which
// a backup's timers run.
type Clock struct{}

var _ vrrpd.Clock = Clock{}

// Now returns the current time.
func (Clock) Now() time.Time { return time.Now() }

// AfterFunc is time.AfterFunc.
func (Clock) AfterFunc(d time.Duration, f func()) vrrpd.Timer { return time.AfterFunc(d, f) }
