// Package gitserver is the Git harness for tests that fetch from real
// servers: a repository made and committed to with the git CLI, as an
// operator would, and servers for it on 127.0.0.1 (or, for HTTP, on a
// listener the test opened elsewhere, such as in a network namespace) — a real `git daemon`,
// the real `git http-backend` behind HTTP basic auth, an OpenSSH sshd —
// plus a gpg key to sign commits with. Everything it starts or creates is
// removed by t.Cleanup. A test skips (with the reason) when git, gpg or
// sshd is missing; CI installs them all.
package gitserver

import (
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Repo is a Git repository in a temporary directory, on branch main. Its
// git commands run with a private HOME and no system configuration, so
// the machine's settings do not leak into tests.
type Repo struct {
	// Dir is the working tree; "file://"+Dir is a URL for it.
	Dir string
	// Env is the environment git and gpg run with.
	Env []string

	t    testing.TB
	home string
}

// NeedGit skips the test when the git CLI is not installed.
func NeedGit(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
}

// New creates an empty repository named "cluster" (the last element of
// every URL for it) with branch main.
func New(t testing.TB) *Repo {
	t.Helper()
	NeedGit(t)
	r := &Repo{t: t, Dir: filepath.Join(t.TempDir(), "cluster"), home: t.TempDir()}
	r.Env = append(os.Environ(),
		"HOME="+r.home, "GIT_CONFIG_NOSYSTEM=1", "GNUPGHOME="+r.gnupgHome(),
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.org",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.org")
	if err := os.MkdirAll(r.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r.Git("init", "-q", "-b", "main")
	return r
}

func (r *Repo) gnupgHome() string { return filepath.Join(r.home, ".gnupg") }

// Git runs git with args in the working tree and returns its trimmed
// output; a failure fails the test with that output.
func (r *Repo) Git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.Dir
	cmd.Env = r.Env
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// Commit writes files (path in the tree → content; empty content removes
// the file), commits them with msg and any extra `git commit` arguments
// (such as "-S") and returns the commit's SHA.
func (r *Repo) Commit(msg string, files map[string]string, commitArgs ...string) string {
	r.t.Helper()
	for name, content := range files {
		if content == "" {
			r.Git("rm", "-q", name)
			continue
		}
		p := filepath.Join(r.Dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
		r.Git("add", name)
	}
	r.Git(append([]string{"commit", "-q", "-m", msg}, commitArgs...)...)
	return r.Git("rev-parse", "HEAD")
}

// CommitFile is Commit of one file.
func (r *Repo) CommitFile(msg, name, content string, commitArgs ...string) string {
	r.t.Helper()
	return r.Commit(msg, map[string]string{name: content}, commitArgs...)
}

// Daemon serves the repository with a real `git daemon` on 127.0.0.1
// until the test ends and returns its git:// URL. The daemon runs in
// inetd mode, one per connection, behind a socket the harness listens on.
func (r *Repo) Daemon() string {
	r.t.Helper()
	base := filepath.Dir(r.Dir)
	addr, _ := inetd(r.t, func() *exec.Cmd {
		cmd := exec.Command("git", "daemon", "--inetd", "--export-all", "--base-path="+base, base)
		cmd.Env = r.Env
		return cmd
	})
	return "git://" + addr.String() + "/" + filepath.Base(r.Dir)
}

// HTTP serves the repository with the real `git http-backend` (smart
// HTTP) on 127.0.0.1 until the test ends and returns its http:// URL.
// With a token, a request is answered only when its basic-auth password
// is the token; any user name is accepted, as forges do for tokens.
func (r *Repo) HTTP(token string) string {
	r.t.Helper()
	return r.serveHTTP(nil, "", token, nil).URL
}

// HTTPBasic is HTTP answering only requests with basic auth as user with
// password.
func (r *Repo) HTTPBasic(user, password string) string {
	r.t.Helper()
	return r.serveHTTP(nil, user, password, nil).URL
}

// HTTPS is HTTP over TLS, with a certificate for 127.0.0.1 issued by ca,
// and returns its https:// URL. Requests need basic auth with password,
// and as user unless user is empty (a token); none when password is
// empty.
func (r *Repo) HTTPS(ca *CA, user, password string) string {
	r.t.Helper()
	return r.serveHTTP(nil, user, password, ca).URL
}

// HTTPServer is the repository served by `git http-backend`.
type HTTPServer struct {
	// URL is the repository's http:// or https:// URL.
	URL string

	mu      sync.Mutex
	fetches map[string]int
}

// Fetches counts the requests to git-upload-pack from the client
// address ip: a fetch's negotiation and pack (and, in protocol v2, the
// ref listing too; go-git lists refs with a GET of info/refs).
func (s *HTTPServer) Fetches(ip string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches[ip]
}

// ServeHTTPOn serves the repository with the real `git http-backend` on
// l until the test ends: for a listener opened where the harness's own
// 127.0.0.1 servers cannot be reached, such as inside a network
// namespace. With a token, as HTTP.
func (r *Repo) ServeHTTPOn(l net.Listener, token string) *HTTPServer {
	r.t.Helper()
	return r.serveHTTP(l, "", token, nil)
}

func (r *Repo) serveHTTP(l net.Listener, user, password string, ca *CA) *HTTPServer {
	r.t.Helper()
	backend := &cgi.Handler{
		Path: filepath.Join(r.Git("--exec-path"), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + filepath.Dir(r.Dir), "GIT_HTTP_EXPORT_ALL=1"},
	}
	s := &HTTPServer{fetches: map[string]int{}}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if password != "" {
			u, pw, ok := req.BasicAuth()
			if !ok || pw != password || (user != "" && u != user) {
				w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		if strings.HasSuffix(req.URL.Path, "/git-upload-pack") {
			host, _, _ := net.SplitHostPort(req.RemoteAddr)
			s.mu.Lock()
			s.fetches[host]++
			s.mu.Unlock()
		}
		backend.ServeHTTP(w, req)
	}))
	if l != nil {
		srv.Listener.Close()
		srv.Listener = l
	}
	// Refused handshakes are what some tests want; the client reports them.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if ca != nil {
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.serverCert(r.t)}}
		srv.StartTLS()
	} else {
		srv.Start()
	}
	r.t.Cleanup(srv.Close)
	s.URL = srv.URL + "/" + filepath.Base(r.Dir)
	return s
}

// SigningKey makes an ed25519 gpg signing key for uid (such as
// "Release <release@example.org>") in the repository's private keyring,
// so `git commit -S --gpg-sign=<email>` signs with it, and returns the
// armored public key. It skips the test when gpg is not installed.
func (r *Repo) SigningKey(uid string) string {
	r.t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		r.t.Skip("gpg not installed")
	}
	gnupg := r.gnupgHome()
	if err := os.MkdirAll(gnupg, 0o700); err != nil {
		r.t.Fatal(err)
	}
	// gpg starts an agent for the keyring; it must not outlive the test.
	r.t.Cleanup(func() { _ = exec.Command("gpgconf", "--homedir", gnupg, "--kill", "all").Run() })
	r.gpg("--quick-gen-key", uid, "ed25519", "sign", "never")
	return r.gpg("--armor", "--export", uid)
}

func (r *Repo) gpg(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("gpg", append([]string{"--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase", ""}, args...)...)
	cmd.Env = r.Env
	out, err := cmd.Output()
	if err != nil {
		r.t.Fatalf("gpg %v: %v", args, err)
	}
	return string(out)
}
