// Package ipvsproc fingerprints a network namespace's IPVS table from
// /proc/net/ip_vs: one read of text the kernel renders in a single pass,
// instead of one netlink request per virtual service. The controller
// compares fingerprints to skip reading a table of thousands of services
// that nobody changed since it was last found in sync.
//
// The text shows each service's key, scheduler, one-packet flag and
// persistence, and each destination's address, port, forwarding method
// and weight; the connection counters are left out of the fingerprint.
// It does not show destination thresholds, tunnel types or scheduler
// flags: a hand change of only those is found by the periodic full read.
package ipvsproc

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Table fingerprints the IPVS table of one namespace.
type Table struct {
	// NetnsPath is the namespace (/proc/PID/fd/N, /run/netns/NAME); ""
	// is the process's own.
	NetnsPath string
}

// Fingerprint returns a hash of the table's configuration.
func (t Table) Fingerprint() (uint64, error) {
	data, err := t.read()
	if err != nil {
		return 0, err
	}
	return Sum(data), nil
}

func (t Table) read() ([]byte, error) {
	if t.NetnsPath == "" {
		return os.ReadFile("/proc/net/ip_vs")
	}
	// /proc/thread-self/net shows the namespace of the reading thread, so
	// the read happens on a thread locked into the namespace.
	runtime.LockOSThread()
	stranded := false
	defer func() {
		// A thread that could not return to its namespace must not run
		// other goroutines: staying locked, it ends with this goroutine.
		if !stranded {
			runtime.UnlockOSThread()
		}
	}()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil, err
	}
	defer orig.Close()
	target, err := os.Open(t.NetnsPath)
	if err != nil {
		return nil, err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("enter %s: %w", t.NetnsPath, err)
	}
	data, readErr := os.ReadFile("/proc/thread-self/net/ip_vs")
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		stranded = true
		return nil, fmt.Errorf("return from %s: %w", t.NetnsPath, err)
	}
	return data, readErr
}

// Sum hashes /proc/net/ip_vs text without the connection counters (the
// last two columns of each "->" destination line), which change with
// traffic, not with configuration.
func Sum(data []byte) uint64 {
	nl := []byte("\n")
	h := fnv.New64a()
	for line := range bytes.Lines(data) {
		line = bytes.TrimSuffix(line, nl)
		// Only destination lines are split: this runs on every repair pass.
		if bytes.HasPrefix(bytes.TrimLeft(line, " \t"), []byte("->")) {
			if f := bytes.Fields(line); len(f) >= 6 && string(f[0]) == "->" && string(f[1]) != "RemoteAddress:Port" {
				line = bytes.Join(f[:len(f)-2], []byte(" "))
			}
		}
		h.Write(line)
		h.Write(nl)
	}
	return h.Sum64()
}
