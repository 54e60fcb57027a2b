package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/net/netutil"

	"github.com/hakeeper/hakeeper/model"
)

// DefaultAddr is where the daemon listens unless told otherwise: the
// loopback only, never every interface by default.
const DefaultAddr = "127.0.0.1:9110"

// Provider is the controller as the server sees it.
type Provider interface {
	Status() *Report
	// Running is the desired state in force (nil before the first apply).
	Running() *model.NodeState
	// Degradation tells cheaply why the node is degraded ("" when it is
	// not), so /healthz need not build the whole report.
	Degradation() string
}

// DegradedHeader is set on a 200 /healthz answer of a degraded node.
const DegradedHeader = "X-Hakeeper-Degraded"

// headerValue makes s safe and short enough for one header line.
func headerValue(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 512 {
		s = s[:512]
	}
	return s
}

// Handler serves /status, /config, /healthz and, when set, /metrics and
// /hooks/git.
func Handler(p Provider, metrics, webhook http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, p.Status())
	})
	mux.HandleFunc("GET /config", func(w http.ResponseWriter, r *http.Request) {
		ns := p.Running()
		if ns == nil {
			http.Error(w, "no configuration applied yet", http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, ns)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		// Alive and running a configuration: 200. A refused newer revision
		// or an unreachable source is no reason to restart or fence us, but
		// a probe must be able to see it: header and body say degraded.
		if p.Running() == nil {
			http.Error(w, "no configuration applied yet", http.StatusServiceUnavailable)
			return
		}
		why := p.Degradation()
		if why == "" {
			io.WriteString(w, "ok\n")
			return
		}
		w.Header().Set(DegradedHeader, headerValue(why))
		io.WriteString(w, "ok, degraded: "+why+"\n")
	})
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	if webhook != nil {
		mux.Handle("/hooks/git", webhook)
	}
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// Limits of the status server. Its clients are the CLI, a metrics
// scraper, a health probe and a Git host's webhook: a few connections,
// each a short request. Idle or half-sent connections beyond that must
// not pile up until the daemon runs out of file descriptors, and with
// them out of sockets and pipes for VRRP and the tracked checks.
const (
	// MaxConns bounds the connections open at once; more wait in the
	// kernel's accept queue, which costs the daemon no descriptor.
	MaxConns = 64
	// ReadHeaderTimeout and ReadTimeout bound how long a request may take
	// to arrive, headers and then the body (a webhook's is at most 1 MiB).
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 10 * time.Second
	// WriteTimeout bounds writing an answer: a /metrics or /status of a
	// large table to a client that stopped reading.
	WriteTimeout = 30 * time.Second
	// IdleTimeout closes a kept-alive connection with no new request.
	IdleTimeout = 10 * time.Second
	// MaxHeaderBytes bounds a request's headers.
	MaxHeaderBytes = 16 << 10
)

// NewServer returns the HTTP server for the status handler, with the
// timeouts above. Serve it on a listener from Listen, which caps the
// connections. No endpoint streams, so WriteTimeout ends nothing useful.
// The server's own errors (a failed Accept, a bad TLS handshake) go to
// log, not to stderr through the standard logger.
func NewServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelError),
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
}

// Listen opens addr: "unix:/run/hakeeper/hakeeper.sock" or host:port,
// accepting at most MaxConns connections at a time. A stale socket file
// is replaced; its directory is created (0755) and the socket made 0660,
// so a group can be granted access.
func Listen(addr string) (net.Listener, error) {
	l, err := listen(addr)
	if err != nil {
		return nil, err
	}
	return netutil.LimitListener(l, MaxConns), nil
}

func listen(addr string) (net.Listener, error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("listen %s: another process is serving it", addr)
		}
		os.Remove(path)
		l, err := net.Listen("unix", path)
		if err != nil {
			return nil, err
		}
		os.Chmod(path, 0o660)
		return l, nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("listen address %q: want host:port or unix:/path", addr)
	}
	return net.Listen("tcp", addr)
}

// Client reads a running daemon's endpoints.
type Client struct {
	Addr string
	HTTP *http.Client
	base string
}

// NewClient returns a client for addr (host:port or unix:/path).
func NewClient(addr string) *Client {
	tr := &http.Transport{}
	base := "http://" + addr
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
		base = "http://hakeeper"
	}
	return &Client{Addr: addr, HTTP: &http.Client{Transport: tr, Timeout: 5 * time.Second}, base: base}
}

// ErrNotRunning is returned when nothing listens at the address.
var ErrNotRunning = errors.New("hakeeper is not running (nothing listens at the status address)")

// Status fetches /status.
func (c *Client) Status(ctx context.Context) (*Report, error) { return get[Report](ctx, c, "/status") }

// Config fetches /config: the desired state the daemon runs.
func (c *Client) Config(ctx context.Context) (*model.NodeState, error) {
	return get[model.NodeState](ctx, c, "/config")
}

// get fetches path and decodes its JSON answer as a T.
func get[T any](ctx context.Context, c *Client, path string) (*T, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return nil, fmt.Errorf("%w: %s: %v", ErrNotRunning, c.Addr, op.Err)
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("%s%s: %s: %s", c.Addr, path, resp.Status, strings.TrimSpace(string(b)))
	}
	var v T
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return nil, err
	}
	return &v, nil
}
