package check

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/hakeeper/hakeeper/model"
)

// A tcpBatch runs the tcp checks that came due together from one
// goroutine: it starts every connect without waiting, then waits for all
// of them with one poll, instead of a goroutine, context and timer per
// check. A connect the kernel settles at once (a refusal, or on this host
// the whole handshake) costs socket, setsockopt, connect and close; the
// rest cost one poll between them. The batch and its buffers are reused.
type tcpBatch struct {
	servers []*server
	tries   []tcpTry
	polled  []unix.PollFd
	owner   []int // polled[i] watches tries[owner[i]]
	done    []int // tries finished since results were last recorded
}

// tcpTry is one server's check within a batch.
type tcpTry struct {
	s        *server
	family   int       // the target's socket family
	fd       int       // the socket of the try in flight; -1 when none
	tries    int       // tries made, the one in flight included
	start    time.Time // when the try in flight started (real time)
	deadline time.Time // when it times out (real time)
	result   Result
}

// pollCap bounds one wait for connects in flight, so a removed server's
// socket or a closing Checker is noticed within it rather than at the
// check's timeout.
const pollCap = 100 * time.Millisecond

// runBatch takes the tcp checks due now and runs them to completion.
//
// Parallelism stays bounded by the worker pool: each connect in flight
// holds a worker. The batch waits for a worker only when it has nothing in
// flight; otherwise it takes more only if some are free, and a worker
// freed by a finished try goes to the batch's next server.
func (c *Checker) runBatch() {
	c.mu.Lock()
	b := c.ready
	c.ready = nil
	c.mu.Unlock()
	if b == nil {
		return // another goroutine took it
	}

	b.tries = b.tries[:0]
	for _, s := range b.servers {
		b.tries = append(b.tries, tcpTry{s: s, family: tcpFamily(s.target), fd: -1})
	}
	var (
		next     int // b.tries[next:] have not started
		inflight int
		workers  int // workers held
	)
	for next < len(b.tries) || inflight > 0 {
		for next < len(b.tries) {
			if workers == inflight {
				if inflight == 0 {
					c.record(b) // before perhaps waiting for a worker
				}
				if !c.takeWorker(inflight == 0) {
					if inflight == 0 && c.ctx.Err() != nil {
						// Closing: drop the rest.
						c.running.Add(next - len(b.tries))
						next = len(b.tries)
					}
					break
				}
				workers++
			}
			t := &b.tries[next]
			next++
			if t.s.stopped.Load() {
				c.running.Done() // removed while waiting: nothing to record
				continue
			}
			if c.startTry(t) {
				inflight++
			} else {
				b.done = append(b.done, next-1)
			}
		}
		if inflight > 0 {
			inflight -= c.pollTries(b)
		}
		if next == len(b.tries) {
			for ; workers > inflight; workers-- {
				<-c.workers
			}
		}
		c.record(b)
	}
	clear(b.servers)
	b.servers = b.servers[:0]
	clear(b.tries)
	c.batches.Put(b)
}

// takeWorker takes a worker, waiting for one if wait is set (until the
// Checker closes); it reports whether it got one.
func (c *Checker) takeWorker(wait bool) bool {
	if !wait {
		select {
		case c.workers <- struct{}{}:
			return true
		default:
			return false
		}
	}
	select {
	case c.workers <- struct{}{}:
		return true
	case <-c.ctx.Done():
		return false
	}
}

// startTry makes tries of t until one is in flight (true) or t's check has
// its outcome (false): retries of a try that failed at once start at once.
func (c *Checker) startTry(t *tcpTry) bool {
	target := t.s.target
	for {
		t.tries++
		t.start = time.Now()
		fd, err := c.sockets.get(t.family)
		switch {
		case !target.Address.IsValid():
			err = fmt.Errorf("dial tcp %s: no address", target)
		case err != nil:
			err = dialError(target, err)
		default:
			var inProgress bool
			if inProgress, err = tcpDial(fd, target); inProgress {
				t.fd = fd
				t.deadline = t.start.Add(checkTimeout(t.s.spec.Timeout))
				return true
			}
			c.sockets.put(t.family, fd)
		}
		t.result = Result{Err: err, Latency: time.Since(t.start)}
		if c.observeTry != nil {
			c.observeTry(t.result)
		}
		if !c.retry(t) {
			return false
		}
	}
}

// retry reports whether t's failed try is to be tried again: as Attempt
// decides, while retries remain, the server is still checked and the next
// scheduled check has not come.
func (c *Checker) retry(t *tcpTry) bool {
	return t.result.Err != nil && t.tries <= t.s.spec.Retries && !t.s.stopped.Load() &&
		c.clock.Now().Before(t.s.due.Add(interval(t.s.spec)))
}

// checkTimeout is a check's timeout, the default when unset.
func checkTimeout(timeout time.Duration) time.Duration {
	if timeout <= 0 {
		return model.DefaultCheckTimeout
	}
	return timeout
}

// pollTries waits for the batch's connects in flight: one look without
// waiting (on this host most handshakes are done already), then, while
// some are still in progress, a wait until the earliest timeout (at most
// pollCap). It ends finished and timed-out tries, starts their retries and
// returns how many fewer tries are in flight.
func (c *Checker) pollTries(b *tcpBatch) (ended int) {
	b.polled, b.owner = b.polled[:0], b.owner[:0]
	for i := range b.tries {
		if fd := b.tries[i].fd; fd >= 0 {
			b.polled = append(b.polled, unix.PollFd{Fd: int32(fd), Events: unix.POLLOUT})
			b.owner = append(b.owner, i)
		}
	}
	var zero unix.Timespec
	n, _, errno := unix.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&b.polled[0])), uintptr(len(b.polled)),
		uintptr(unsafe.Pointer(&zero)), 0, 0, 0)
	if errno == 0 && n == 0 {
		earliest := b.tries[slices.MinFunc(b.owner, func(i, j int) int {
			return b.tries[i].deadline.Compare(b.tries[j].deadline)
		})].deadline
		wait := unix.NsecToTimespec(int64(max(min(time.Until(earliest), pollCap), 0)))
		// May block: a system call the runtime can take the thread's
		// processor from.
		if _, err := unix.Ppoll(b.polled, &wait, nil); err != nil && !errors.Is(err, unix.EINTR) {
			// Cannot happen with valid fds; fail the tries rather than spin.
			for j := range b.polled {
				b.polled[j].Revents = unix.POLLERR
			}
		}
	}
	now := time.Now()
	for j, pfd := range b.polled {
		i := b.owner[j]
		t := &b.tries[i]
		var err error
		if pfd.Revents != 0 && pfd.Revents != unix.POLLOUT {
			err = connectResult(t.fd) // POLLERR, POLLHUP: read the error
		}
		inProgress := pfd.Revents == 0 || errors.Is(err, unix.EINPROGRESS)
		switch {
		case t.s.stopped.Load():
			// Removed: stop waiting; no result is recorded for it.
			c.sockets.put(t.family, t.fd)
			t.fd = -1
			ended++
			c.running.Done()
			continue
		case inProgress && now.Before(t.deadline):
			continue
		case inProgress:
			// Worded as the probe's timeout (tcp.go).
			err = fmt.Errorf("timed out: %w", dialError(t.s.target, context.DeadlineExceeded))
		default:
			err = dialError(t.s.target, err)
		}
		c.sockets.put(t.family, t.fd)
		t.fd = -1
		t.result = Result{Err: err, Latency: now.Sub(t.start)}
		if c.observeTry != nil {
			c.observeTry(t.result)
		}
		if c.retry(t) && c.startTry(t) {
			continue // the retry is in flight in the same worker
		}
		ended++
		b.done = append(b.done, i)
	}
	return ended
}

// record finishes the batch's checks that have their outcome, under one
// lock.
func (c *Checker) record(b *tcpBatch) {
	if len(b.done) == 0 {
		return
	}
	c.mu.Lock()
	for _, i := range b.done {
		t := &b.tries[i]
		c.finish(t.s, t.result, t.tries)
	}
	c.mu.Unlock()
	c.running.Add(-len(b.done))
	b.done = b.done[:0]
}

// socketPool keeps the batches' tcp sockets between checks. Reusing a
// socket (disconnect, then connect again) saves creating it, setting
// linger and tearing down its file on close for every check. Sockets are
// kept up to the worker limit, the most in flight at once.
type socketPool struct {
	mu     sync.Mutex
	closed bool
	max    int
	idle   map[int][]int // by socket family
}

// get returns an idle socket of family, or a new one.
func (p *socketPool) get(family int) (int, error) {
	p.mu.Lock()
	if n := len(p.idle[family]); n > 0 {
		fd := p.idle[family][n-1]
		p.idle[family] = p.idle[family][:n-1]
		p.mu.Unlock()
		return fd, nil
	}
	p.mu.Unlock()
	return tcpSocket(family)
}

// put disconnects fd (a reset if it is connected) and keeps it for reuse,
// or closes it when it cannot be reused, the pool is full or closed.
func (p *socketPool) put(family, fd int) {
	if !tcpDisconnect(fd) {
		rawClose(fd)
		return
	}
	p.mu.Lock()
	if p.closed || len(p.idle[family]) >= p.max {
		p.mu.Unlock()
		rawClose(fd)
		return
	}
	p.idle[family] = append(p.idle[family], fd)
	p.mu.Unlock()
}

// close closes every idle socket; sockets put afterwards are closed.
func (p *socketPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, fds := range p.idle {
		for _, fd := range fds {
			rawClose(fd)
		}
	}
	p.idle = nil
}
