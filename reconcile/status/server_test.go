package status_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/reconcile/source"
	"github.com/hakeeper/hakeeper/reconcile/status"
)

type idleProvider struct{}

func (idleProvider) Status() *status.Report    { return &status.Report{Node: "lb1"} }
func (idleProvider) Running() *model.NodeState { return &model.NodeState{} }
func (idleProvider) Degradation() string       { return "" }

// closeBound is how long the server may take to close a flood
// connection: every connection beyond the cap waits for one slot, so
// two of the longest timeouts in a row, plus a wide margin for a loaded
// machine. The old server never closed them.
const closeBound = 2*status.ReadTimeout + 20*time.Second

// A flood of connections that never finish a request (no headers, a
// half-sent webhook body, keep-alive after one request) never holds more
// than MaxConns connections open, each is closed by the server within its
// timeout, and a real request still gets through.
func TestServerSurvivesIdleFlood(t *testing.T) {
	srv := status.NewServer(status.Handler(idleProvider{}, nil, &source.Webhook{Secret: []byte("s"), Trigger: func() {}}), slog.New(slog.DiscardHandler))
	l, err := status.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Counted at the listener, down before the capped conn's Close frees
	// its slot: the server's StateClosed hook runs only after that, so
	// counting there could see the next connection first.
	counted := &countingListener{Listener: l}
	peak := &counted.peak
	l = counted
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	addr := l.Addr().String()

	type flood struct {
		kind string
		send string // written at once; then the client goes quiet
	}
	var floods []flood
	for range status.MaxConns + 16 {
		floods = append(floods, flood{"idle", ""})
	}
	for range 8 {
		floods = append(floods, flood{"half-sent webhook", "POST /hooks/git HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"ref\":"})
		floods = append(floods, flood{"keep-alive", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"})
	}
	var wg sync.WaitGroup
	errs := make(chan string, len(floods))
	for _, f := range floods {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := io.WriteString(c, f.send); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The server must end the connection: read until it does.
			c.SetReadDeadline(time.Now().Add(closeBound))
			_, err := io.Copy(io.Discard, c)
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				errs <- f.kind + " connection still open after " + closeBound.String()
			}
		}()
	}

	// A real request during the flood is answered once a slot frees.
	client := &http.Client{Timeout: closeBound}
	resp, err := client.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("a request during the flood: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(b), "ok") {
		t.Errorf("during the flood: %s %q", resp.Status, b)
	}
	client.CloseIdleConnections()

	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if p := peak.Load(); p > status.MaxConns {
		t.Errorf("%d connections open at once, want at most %d", p, status.MaxConns)
	}
	if p := peak.Load(); p < status.MaxConns {
		t.Errorf("at most %d connections open at once: the flood did not reach the cap of %d, so it proves nothing", p, status.MaxConns)
	}
}

// Headers beyond MaxHeaderBytes are refused, not buffered.
func TestServerRefusesHugeHeaders(t *testing.T) {
	srv := status.NewServer(status.Handler(idleProvider{}, nil, nil), slog.New(slog.DiscardHandler))
	l, err := status.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(closeBound))
	go io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 2*status.MaxHeaderBytes)+"\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("got %s, want 431", resp.Status)
	}
}

// tempErrListener fails its first Accept with a temporary error, which
// http.Server logs and retries, then reports itself closed.
type tempErrListener struct{ calls int }

func (*tempErrListener) Close() error   { return nil }
func (*tempErrListener) Addr() net.Addr { return &net.TCPAddr{} }

type tempErr struct{}

func (tempErr) Error() string   { return "too many open files" }
func (tempErr) Timeout() bool   { return false }
func (tempErr) Temporary() bool { return true }

func (l *tempErrListener) Accept() (net.Conn, error) {
	l.calls++
	if l.calls == 1 {
		return nil, tempErr{}
	}
	return nil, net.ErrClosed
}

// The server's own errors (an Accept that fails, a TLS handshake) go to
// the daemon's structured log, not to stderr through the default logger.
func TestServerErrorsReachSlog(t *testing.T) {
	var buf bytes.Buffer
	srv := status.NewServer(status.Handler(idleProvider{}, nil, nil), slog.New(slog.NewTextHandler(&buf, nil)))
	if err := srv.Serve(&tempErrListener{}); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Serve: %v", err)
	}
	if out := buf.String(); !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "Accept error: too many open files") {
		t.Errorf("the accept error is not in the slog output: %q", out)
	}
}

// countingListener counts the connections it has handed out and not yet
// closed, and the most at once.
type countingListener struct {
	net.Listener
	open, peak atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	n := l.open.Add(1)
	for p := l.peak.Load(); n > p && !l.peak.CompareAndSwap(p, n); p = l.peak.Load() {
	}
	return &countedConn{Conn: c, l: l}, nil
}

type countedConn struct {
	net.Conn
	l    *countingListener
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}
