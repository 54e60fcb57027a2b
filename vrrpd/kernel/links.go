package kernel

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"

	"github.com/hakeeper/hakeeper/vrrpd"
)

// Links reports link state through rtnetlink.
type Links struct {
	h *netlink.Handle
}

var _ vrrpd.Links = (*Links)(nil)

// NewLinks opens an rtnetlink handle in the current namespace.
func NewLinks() (*Links, error) {
	h, err := newHandle()
	if err != nil {
		return nil, err
	}
	return &Links{h: h}, nil
}

// Close releases the handle.
func (l *Links) Close() { l.h.Close() }

// Up reports whether the link is administratively up and its operational
// state is up or unknown (virtual links without carrier reporting say
// unknown). A missing link is down, not an error: a tracked interface
// may be deleted and come back.
func (l *Links) Up(name string) (bool, error) {
	link, err := l.h.LinkByName(name)
	if err != nil {
		if isLinkNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("interface %s: %w", name, err)
	}
	a := link.Attrs()
	return a.Flags&net.FlagUp != 0 && (a.OperState == netlink.OperUp || a.OperState == netlink.OperUnknown), nil
}

// Watch calls f with the link's name for every link once, then on every
// link change until ctx ends.
func (l *Links) Watch(ctx context.Context, f func(name string)) error {
	ch := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	defer close(done)
	errc := make(chan error, 1)
	err := netlink.LinkSubscribeWithOptions(ch, done, netlink.LinkSubscribeOptions{
		ErrorCallback: func(err error) {
			select {
			case errc <- err:
			default:
			}
		},
	})
	if err != nil {
		return fmt.Errorf("subscribe to link changes: %w", err)
	}
	// Report every link once, now that changes are watched: a link that
	// changed between the caller's last read and the subscription (hakeeper
	// run reads links in its first pass, before the engine watches) would
	// otherwise stay as it was read until it changed again.
	links, err := l.h.LinkList()
	if err != nil {
		return fmt.Errorf("list links: %w", err)
	}
	for _, link := range links {
		f(link.Attrs().Name)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			return fmt.Errorf("link changes: %w", err)
		case u, ok := <-ch:
			if !ok {
				return errors.New("link change subscription ended")
			}
			if u.Link != nil && u.Link.Attrs() != nil {
				f(u.Link.Attrs().Name)
			}
		}
	}
}
