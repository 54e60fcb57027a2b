package check

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/model"
)

// seenRequest is what a test server observed about one request.
type seenRequest struct {
	host, path, connection string
	remote                 string
}

// recordingHandler answers by path and records every request.
type recordingHandler struct {
	mu   sync.Mutex
	seen []seenRequest
}

func (h *recordingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.seen = append(h.seen, seenRequest{host: r.Host, path: r.URL.Path, connection: r.Header.Get("Connection"), remote: r.RemoteAddr})
	h.mu.Unlock()
	switch r.URL.Path {
	case "/health":
		fmt.Fprint(w, "status: OK version=1.2.3\n")
	case "/error":
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, "maintenance")
	case "/redirect":
		http.Redirect(w, r, "/health", http.StatusFound)
	case "/huge":
		// The marker sits past the read limit.
		w.Write([]byte(strings.Repeat("x", maxHTTPBody)))
		w.Write([]byte("MARKER"))
	default:
		http.NotFound(w, r)
	}
}

func (h *recordingHandler) requests() []seenRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]seenRequest(nil), h.seen...)
}

func httpSpec(typ string, h model.HTTPCheck) *model.CheckSpec {
	return &model.CheckSpec{Type: typ, Timeout: 2 * time.Second, HTTP: &h}
}

func TestHTTPCheck(t *testing.T) {
	h := &recordingHandler{}
	srv := httptest.NewServer(h)
	defer srv.Close()
	target := targetOf(t, srv.Listener.Addr())

	tests := []struct {
		desc    string
		check   model.HTTPCheck
		wantErr string // "" = pass
	}{
		{desc: "status 200 passes", check: model.HTTPCheck{Path: "/health"}},
		{desc: "default path / gets 404", check: model.HTTPCheck{}, wantErr: "status 404, want 200"},
		{desc: "wrong status fails", check: model.HTTPCheck{Path: "/error"}, wantErr: "status 503, want 200"},
		{desc: "listed status passes", check: model.HTTPCheck{Path: "/error", Status: model.StatusCodes{model.StatusCode(200), model.StatusCode(503)}}},
		{desc: "status in a range passes", check: model.HTTPCheck{Path: "/error", Status: model.StatusCodes{model.StatusCode(200), {First: 500, Last: 599}}}},
		{desc: "range ends are included", check: model.HTTPCheck{Path: "/redirect", Status: model.StatusCodes{{First: 300, Last: 302}}}},
		{desc: "status outside every range fails", check: model.HTTPCheck{Path: "/error", Status: model.StatusCodes{{First: 200, Last: 299}, {First: 504, Last: 599}}}, wantErr: "status 503, want 200-299 or 504-599"},
		{desc: "body substring passes", check: model.HTTPCheck{Path: "/health", Body: "status: OK"}},
		{desc: "body mismatch fails", check: model.HTTPCheck{Path: "/health", Body: "status: DEGRADED"}, wantErr: `body does not contain "status: DEGRADED"`},
		{desc: "regex passes", check: model.HTTPCheck{Path: "/health", BodyRegex: `version=1\.\d+\.\d+`}},
		{desc: "regex mismatch fails", check: model.HTTPCheck{Path: "/health", BodyRegex: `version=2\.`}, wantErr: "body does not match"},
		{desc: "redirect is not followed", check: model.HTTPCheck{Path: "/redirect"}, wantErr: "status 302, want 200"},
		{desc: "redirect status can be accepted", check: model.HTTPCheck{Path: "/redirect", Status: model.StatusCodes{model.StatusCode(302)}}},
		{desc: "body is read only up to the limit", check: model.HTTPCheck{Path: "/huge", Body: "MARKER"}, wantErr: "body does not contain"},
		{desc: "body before the limit is seen", check: model.HTTPCheck{Path: "/huge", Body: "xxxx"}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			r := probeOnce(t, httpSpec("http", tc.check), target)
			if tc.wantErr == "" {
				wantPass(t, r)
			} else {
				wantFail(t, r, tc.wantErr)
			}
		})
	}

	t.Run("redirect target never requested", func(t *testing.T) {
		before := len(h.requests())
		probeOnce(t, httpSpec("http", model.HTTPCheck{Path: "/redirect"}), target)
		reqs := h.requests()[before:]
		if len(reqs) != 1 || reqs[0].path != "/redirect" {
			t.Errorf("server saw %+v, want only /redirect", reqs)
		}
	})

	t.Run("host header and a fresh connection per check", func(t *testing.T) {
		before := len(h.requests())
		spec := httpSpec("http", model.HTTPCheck{Path: "/health", Host: "www.example.com"})
		wantPass(t, probeOnce(t, spec, target))
		wantPass(t, probeOnce(t, spec, target))
		reqs := h.requests()[before:]
		if len(reqs) != 2 {
			t.Fatalf("server saw %d requests, want 2", len(reqs))
		}
		for _, r := range reqs {
			if r.host != "www.example.com" {
				t.Errorf("Host header %q, want www.example.com", r.host)
			}
		}
		if reqs[0].remote == reqs[1].remote {
			t.Errorf("both checks came from %s: connection reused", reqs[0].remote)
		}
	})

	t.Run("server that accepts but never answers", func(t *testing.T) {
		spec := httpSpec("http", model.HTTPCheck{})
		spec.Timeout = 300 * time.Millisecond
		var r Result
		took := elapsed(func() { r = probeOnce(t, spec, silentTCPServer(t)) })
		wantFail(t, r, "timed out")
		if took > 3*time.Second {
			t.Errorf("check took %v with a 300ms timeout", took)
		}
	})

	t.Run("closed port", func(t *testing.T) {
		wantFail(t, probeOnce(t, httpSpec("http", model.HTTPCheck{}), closedTCPPort(t)), "connection refused")
	})

	t.Run("bad regex is refused up front", func(t *testing.T) {
		_, err := NewProbe(httpSpec("http", model.HTTPCheck{BodyRegex: "("}))
		if err == nil || !strings.Contains(err.Error(), "bodyRegex") {
			t.Errorf("NewProbe error %v, want one naming bodyRegex", err)
		}
	})
}

func TestHTTPSCheck(t *testing.T) {
	h := &recordingHandler{}
	srv := httptest.NewUnstartedServer(h)
	var mu sync.Mutex
	var sniSeen []string
	srv.TLS = &tls.Config{GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		mu.Lock()
		sniSeen = append(sniSeen, hello.ServerName)
		mu.Unlock()
		return nil, nil
	}}
	srv.StartTLS()
	defer srv.Close()
	target := targetOf(t, srv.Listener.Addr())
	lastSNI := func() string {
		mu.Lock()
		defer mu.Unlock()
		if len(sniSeen) == 0 {
			return "<none>"
		}
		return sniSeen[len(sniSeen)-1]
	}

	tests := []struct {
		desc    string
		check   model.HTTPCheck
		wantSNI string
		wantErr string
	}{
		{desc: "self-signed certificate fails verification",
			check: model.HTTPCheck{Path: "/health", Host: "www.example.com"}, wantSNI: "www.example.com", wantErr: "certificate"},
		{desc: "skip-verify passes; SNI defaults to Host without port",
			check: model.HTTPCheck{Path: "/health", Host: "www.example.com:8443", InsecureSkipVerify: true}, wantSNI: "www.example.com"},
		{desc: "explicit SNI wins over Host",
			check: model.HTTPCheck{Path: "/health", Host: "www.example.com", SNI: "backend.example.net", InsecureSkipVerify: true}, wantSNI: "backend.example.net"},
		{desc: "status is checked over TLS too",
			check: model.HTTPCheck{Path: "/error", Host: "www.example.com", InsecureSkipVerify: true}, wantSNI: "www.example.com", wantErr: "status 503"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			r := probeOnce(t, httpSpec("https", tc.check), target)
			if tc.wantErr == "" {
				wantPass(t, r)
			} else {
				wantFail(t, r, tc.wantErr)
			}
			if got := lastSNI(); got != tc.wantSNI {
				t.Errorf("server saw SNI %q, want %q", got, tc.wantSNI)
			}
		})
	}
	t.Run("host header over TLS", func(t *testing.T) {
		before := len(h.requests())
		wantPass(t, probeOnce(t, httpSpec("https", model.HTTPCheck{Path: "/health", Host: "shop.example.com", InsecureSkipVerify: true}), target))
		reqs := h.requests()[before:]
		if len(reqs) != 1 || reqs[0].host != "shop.example.com" {
			t.Errorf("server saw %+v, want one request with Host shop.example.com", reqs)
		}
	})
	t.Run("plain HTTP server fails the HTTPS check", func(t *testing.T) {
		plain := httptest.NewServer(h)
		defer plain.Close()
		r := probeOnce(t, httpSpec("https", model.HTTPCheck{InsecureSkipVerify: true}), targetOf(t, plain.Listener.Addr()))
		if r.OK() {
			t.Fatal("HTTPS check passed against a plain HTTP server")
		}
	})
}

func TestHostOnly(t *testing.T) {
	for in, want := range map[string]string{
		"www.example.com":      "www.example.com",
		"www.example.com:8443": "www.example.com",
		"[2001:db8::1]:443":    "2001:db8::1",
		"[2001:db8::1]":        "2001:db8::1",
		"":                     "",
	} {
		if got := hostOnly(in); got != want {
			t.Errorf("hostOnly(%q) = %q, want %q", in, got, want)
		}
	}
}
