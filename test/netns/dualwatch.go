package netns

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// DualStampTolerance is how much the dual-holder measure may overstate
// a stretch: both of its ends are stamped when the test's reading loops
// received the kernel's notifications (netlink has no kernel
// timestamp), and the removal's loop can wake later than the addition's
// when the test process waits for a CPU. Assertions add it to the bound
// they check, and nothing else.
const DualStampTolerance = 50 * time.Millisecond

// DualWatch follows every node's kernel address notifications for one
// address and reports the longest stretch during which two or more live
// nodes held it: the split-brain measure of a failover test. A node the
// test kills counts as dead from Crashed until Revived: a powered-off
// machine answers for no address, whatever the lab's kernel still lists
// until the test removes it, and the test's own kill, wait and delete
// may take longer than the survivors' Master_Down_Interval.
type DualWatch struct {
	lab   *Lab
	addr  netip.Addr
	start time.Time
	subs  []*addrSubscription

	mu sync.Mutex
	// held[i] is the prefixes of addr node i has now; changes[i] when
	// node i came to hold it or stopped holding it (one reading loop per
	// node, so each list is in order).
	held    []map[netip.Prefix]bool
	changes [][]holdChange
	dead    []deadSpan
	end     time.Time
	err     error
}

type holdChange struct {
	at   time.Time
	held bool
}

// deadSpan is a node's time between Crashed and Revived (to zero: not
// revived yet).
type deadSpan struct {
	node     int
	from, to time.Time
}

// WatchHolders starts a DualWatch on addr. The lab's cleanup stops it.
func (l *Lab) WatchHolders(addr netip.Addr) *DualWatch {
	l.t.Helper()
	w := &DualWatch{lab: l, addr: addr, start: time.Now(),
		held: make([]map[netip.Prefix]bool, len(l.Nodes)), changes: make([][]holdChange, len(l.Nodes))}
	for i, nd := range l.Nodes {
		w.held[i] = map[netip.Prefix]bool{}
		h, err := nd.Handle()
		if err != nil {
			l.t.Fatal(err)
		}
		link, err := h.LinkByName(nd.Iface)
		if err != nil {
			l.t.Fatalf("%s: link %s: %v", nd.Name, nd.Iface, err)
		}
		index := link.Attrs().Index
		sub, err := subscribeAddrs(nd.Name, func(u addrUpdate) { w.update(i, index, u) }, func(err error) {
			w.fail(fmt.Errorf("%s: %w", nd.Name, err))
		})
		if err != nil {
			l.t.Fatal(err)
		}
		w.subs = append(w.subs, sub)
	}
	l.t.Cleanup(func() { w.Stop() })
	return w
}

func (w *DualWatch) update(node, index int, u addrUpdate) {
	if u.Index != index || u.Prefix.Addr() != w.addr {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.end.IsZero() {
		return
	}
	before := len(w.held[node]) > 0
	if u.Added {
		w.held[node][u.Prefix] = true
	} else {
		delete(w.held[node], u.Prefix)
	}
	if now := len(w.held[node]) > 0; now != before {
		w.changes[node] = append(w.changes[node], holdChange{at: u.Time, held: now})
	}
}

func (w *DualWatch) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil && w.end.IsZero() {
		w.err = err
	}
}

func (w *DualWatch) nodeIndex(n *Node) int {
	for i, nd := range w.lab.Nodes {
		if nd == n {
			return i
		}
	}
	panic(fmt.Sprintf("node %s is not in this lab", n.Name))
}

// Crashed marks n dead from now on; call it just before killing n's
// daemon.
func (w *DualWatch) Crashed(n *Node) {
	i := w.nodeIndex(n)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.dead = append(w.dead, deadSpan{node: i, from: time.Now()})
}

// Revived marks n live again from now on; call it before n rejoins
// (its link up, its daemon started).
func (w *DualWatch) Revived(n *Node) {
	i := w.nodeIndex(n)
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	for k := range w.dead {
		if w.dead[k].node == i && w.dead[k].to.IsZero() {
			w.dead[k].to = now
		}
	}
}

// Stop ends the watch and returns the longest stretch during which two
// or more live nodes held the address, and any error that makes the
// record incomplete. Stopping again returns the same.
func (w *DualWatch) Stop() (time.Duration, error) {
	w.mu.Lock()
	if w.end.IsZero() {
		w.end = time.Now()
	}
	w.mu.Unlock()
	for _, s := range w.subs {
		s.Close()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	longest, _, _ := w.longestLocked()
	return longest, w.err
}

// heldAt reports whether live node i held the address at t, by its
// changes so far.
func (w *DualWatch) heldAt(i int, t time.Time) bool {
	held := false
	for _, c := range w.changes[i] {
		if c.at.After(t) {
			break
		}
		held = c.held
	}
	if !held {
		return false
	}
	for _, d := range w.dead {
		if d.node == i && !t.Before(d.from) && (d.to.IsZero() || t.Before(d.to)) {
			return false
		}
	}
	return true
}

// longestLocked walks every instant at which a holder or a node's
// liveness changed and returns the longest stretch with two or more
// live holders, when it began and who held it.
func (w *DualWatch) longestLocked() (longest time.Duration, from time.Time, who []string) {
	end := w.end
	if end.IsZero() {
		end = time.Now()
	}
	times := []time.Time{w.start}
	for _, cs := range w.changes {
		for _, c := range cs {
			times = append(times, c.at)
		}
	}
	for _, d := range w.dead {
		times = append(times, d.from)
		if !d.to.IsZero() {
			times = append(times, d.to)
		}
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	var since time.Time
	var holders []string
	closeStretch := func(at time.Time) {
		if !since.IsZero() {
			if d := at.Sub(since); d > longest {
				longest, from, who = d, since, holders
			}
			since = time.Time{}
		}
	}
	for _, t := range times {
		if t.After(end) {
			break
		}
		var names []string
		for i, nd := range w.lab.Nodes {
			if w.heldAt(i, t) {
				names = append(names, nd.Name)
			}
		}
		if len(names) > 1 {
			if since.IsZero() {
				since, holders = t, names
			}
		} else {
			closeStretch(t)
		}
	}
	closeStretch(end)
	return longest, from, who
}

// Describe says who held the address during the longest double holding
// and lists every change, relative to the watch's start: for the
// message of a failed assertion.
func (w *DualWatch) Describe() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	longest, from, who := w.longestLocked()
	var b strings.Builder
	if longest > 0 {
		fmt.Fprintf(&b, "longest double holding %v from +%v by %v; ", longest, from.Sub(w.start), who)
	}
	b.WriteString("changes:")
	for i, cs := range w.changes {
		for _, c := range cs {
			sign := "-"
			if c.held {
				sign = "+"
			}
			fmt.Fprintf(&b, " %s%s@%v", sign, w.lab.Nodes[i].Name, c.at.Sub(w.start).Round(time.Millisecond))
		}
	}
	for _, d := range w.dead {
		to := "end"
		if !d.to.IsZero() {
			to = d.to.Sub(w.start).Round(time.Millisecond).String()
		}
		fmt.Fprintf(&b, " dead:%s@%v..%s", w.lab.Nodes[d.node].Name, d.from.Sub(w.start).Round(time.Millisecond), to)
	}
	return b.String()
}
