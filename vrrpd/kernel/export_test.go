package kernel

import (
	"context"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/hakeeper/hakeeper/model"
)

// NewAddressesWith uses an existing handle, e.g. one bound to another
// namespace by netlink.NewHandleAt.
func NewAddressesWith(h *netlink.Handle) *Addresses {
	return &Addresses{h: h}
}

// RunTimeout is Run with a timeout, for tests without a context.
func (r Runner) RunTimeout(timeout time.Duration, cmd model.Command, user string, args ...string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return r.Run(ctx, cmd, user, args...)
}
