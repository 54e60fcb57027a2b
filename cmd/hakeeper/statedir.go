package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// defaultStateDirFor is the state directory run, plan and apply agree on
// when --state-dir is not given: a Git source keeps its clone and history
// across reboots in defaultStateDir; a local source's node keeps its state
// per node on tmpfs (defaultRuntimeDir/NODE), cleared with the kernel
// state it describes.
func defaultStateDirFor(src, node string) string {
	if isGitURL(src) {
		return defaultStateDir
	}
	return filepath.Join(defaultRuntimeDir, node)
}

// The state directory's records of what hakeeper owns on the node (IPVS
// services, real-server changes): run, apply and plan read the same files.
const (
	ipvsRecord       = "ipvs-owned.json"
	realServerRecord = "realserver-owned.json"
)

// stateLockName is the file in the state directory that `hakeeper run`
// holds an exclusive flock on for its lifetime. The kernel drops the lock
// when the process dies, so a crash never leaves a stale lock behind.
const stateLockName = "lock"

// errStateLocked is returned (wrapped) when another process holds the lock.
var errStateLocked = errors.New("state directory is in use")

// lockStateDir takes the state directory's lock without waiting and
// records the holder's pid in it. Closing the returned file drops the
// lock (the kernel drops it on exit). When another process holds it, the
// error names that process and the directory.
func lockStateDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	path := filepath.Join(dir, stateLockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("state directory lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "another process"
			if pid := strings.TrimSpace(string(b)); pid != "" {
				holder = "pid " + pid
			}
			return nil, fmt.Errorf("%w: %s holds %s (a running 'hakeeper run' owns this node's state)", errStateLocked, holder, path)
		}
		return nil, fmt.Errorf("state directory lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}
