package gitserver

import (
	"bytes"
	"net"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// inetd accepts TCP connections on 127.0.0.1 until the test ends and runs
// a fresh server process (from newCmd) for each, with the connection as
// its stdin and stdout, as inetd does. The harness holds the listening
// socket from the start, so no other test can take the port between
// choosing it and the server binding it. It returns the listening
// address and the servers' stderr, to log when a test fails.
func inetd(t testing.TB, newCmd func() *exec.Cmd) (*net.TCPAddr, *lockedBuffer) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuffer{}
	var (
		mu    sync.Mutex
		procs []*exec.Cmd
		wg    sync.WaitGroup
	)
	accepting := make(chan struct{})
	go func() {
		defer close(accepting)
		for {
			c, err := l.Accept()
			if err != nil {
				return // closed by the cleanup
			}
			f, err := c.(*net.TCPConn).File()
			c.Close() // f is a duplicate: the connection stays open
			if err != nil {
				continue
			}
			f.Fd() // puts the socket in blocking mode, as a server expects
			cmd := newCmd()
			cmd.Stdin, cmd.Stdout, cmd.Stderr = f, f, stderr
			// Its own process group, so the cleanup can stop what it forked.
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			err = cmd.Start()
			f.Close()
			if err != nil {
				stderr.WriteString("start " + cmd.Path + ": " + err.Error() + "\n")
				continue
			}
			mu.Lock()
			procs = append(procs, cmd)
			mu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); _ = cmd.Wait() }()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-accepting
		mu.Lock()
		for _, p := range procs {
			_ = syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
		}
		mu.Unlock()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("servers on %s did not exit", l.Addr())
		}
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("server log (%s):\n%s", l.Addr(), stderr.String())
		}
	})
	return l.Addr().(*net.TCPAddr), stderr
}

// lockedBuffer collects the stderr of concurrent processes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) WriteString(s string) {
	b.Write([]byte(s))
}

func (b *lockedBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
