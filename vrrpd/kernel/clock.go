package kernel

import (
	"time"

	"github.com/hakeeper/hakeeper/vrrpd"
)

// Clock is the real clock.
type Clock struct{}

var _ vrrpd.Clock = Clock{}

// Now returns the current time.
func (Clock) Now() time.Time { return time.Now() }

// AfterFunc runs f in its own goroutine after d.
func (Clock) AfterFunc(d time.Duration, f func()) vrrpd.Timer { return time.AfterFunc(d, f) }
