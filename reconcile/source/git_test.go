package source

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gitRepo is a real repository made with the git CLI, as a user would.
type gitRepo struct {
	t   *testing.T
	dir string
	env []string
}

func needGit(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
}

func newGitRepo(t *testing.T) *gitRepo {
	t.Helper()
	needGit(t)
	r := &gitRepo{t: t, dir: filepath.Join(t.TempDir(), "cluster")}
	home := t.TempDir()
	r.env = append(os.Environ(),
		"HOME="+home, "GIT_CONFIG_NOSYSTEM=1", "GNUPGHOME="+filepath.Join(home, ".gnupg"),
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.org",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.org")
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r.git("init", "-q", "-b", "main")
	return r
}

func (r *gitRepo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	cmd.Env = r.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes files (name → content; empty content deletes) and commits.
func (r *gitRepo) commit(msg string, files map[string]string, extra ...string) string {
	r.t.Helper()
	for name, content := range files {
		p := filepath.Join(r.dir, name)
		if content == "" {
			r.git("rm", "-q", name)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
		r.git("add", name)
	}
	r.git(append([]string{"commit", "-q", "-m", msg}, extra...)...)
	return r.git("rev-parse", "HEAD")
}

// daemon serves the repository's parent with a real `git daemon` on
// 127.0.0.1 and returns the git:// URL.
func (r *gitRepo) daemon() string {
	r.t.Helper()
	port := freePort(r.t)
	base := filepath.Dir(r.dir)
	cmd := exec.Command("git", "daemon", "--reuseaddr", "--export-all", "--base-path="+base,
		"--listen=127.0.0.1", fmt.Sprintf("--port=%d", port), base)
	cmd.Env = r.env
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitListening(r.t, fmt.Sprintf("127.0.0.1:%d", port))
	return fmt.Sprintf("git://127.0.0.1:%d/%s", port, filepath.Base(r.dir))
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing listening on %s", addr)
}

const clusterV1 = "cluster: lab\nnodes:\n  lb1: {address: 192.0.2.1, interface: eth0}\n"
const clusterV2 = "cluster: lab\nnodes:\n  lb1: {address: 192.0.2.1, interface: eth0}\n  lb2: {address: 192.0.2.2, interface: eth0}\n"

func latest(t *testing.T, g *Git) *Revision {
	t.Helper()
	rev, err := g.Latest(context.Background())
	if err != nil {
		t.Fatalf("Latest: %v", err)
	}
	return rev
}

func TestGitDaemonFollowsBranch(t *testing.T) {
	repo := newGitRepo(t)
	c1 := repo.commit("first", map[string]string{"cluster.yaml": clusterV1, "README.md": "not yaml"})
	url := repo.daemon()
	g, err := NewGit(GitOptions{URL: url, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	rev := latest(t, g)
	if rev.ID != c1 || rev.Summary != "first" {
		t.Fatalf("got %s %q, want %s first", rev.ID, rev.Summary, c1)
	}
	if len(rev.Files) != 1 || rev.Files[0].Name != "cluster.yaml" || string(rev.Files[0].Data) != clusterV1 {
		t.Fatalf("files = %+v", rev.Files)
	}
	g.Applied(rev.ID)
	// A poll that finds the same commit reuses the revision read before.
	if again := latest(t, g); again != rev {
		t.Fatal("polling an unchanged commit read its tree again")
	}

	c2 := repo.commit("add lb2", map[string]string{"cluster.yaml": clusterV2})
	rev = latest(t, g)
	if rev.ID != c2 || string(rev.Files[0].Data) != clusterV2 {
		t.Fatalf("after second commit got %s, want %s", rev.ID, c2)
	}
}

func TestGitSubPathAndTag(t *testing.T) {
	repo := newGitRepo(t)
	repo.commit("layout", map[string]string{
		"clusters/prod/nodes.yaml":    clusterV1,
		"clusters/prod/.hidden.yaml":  "ignored: true",
		"clusters/prod/sub/more.yml":  "services: {}\n",
		"clusters/staging/other.yaml": clusterV2,
	})
	tagged := repo.git("rev-parse", "HEAD")
	repo.git("tag", "-a", "-m", "release", "v1")
	repo.commit("later", map[string]string{"clusters/prod/nodes.yaml": clusterV2})

	g, err := NewGit(GitOptions{URL: "file://" + repo.dir, StateDir: t.TempDir(), Path: "/clusters/prod/", Tag: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	rev := latest(t, g)
	if rev.ID != tagged {
		t.Fatalf("tag resolved to %s, want %s", rev.ID, tagged)
	}
	var names []string
	for _, f := range rev.Files {
		names = append(names, f.Name)
	}
	if got := strings.Join(names, ","); got != "clusters/prod/nodes.yaml,clusters/prod/sub/more.yml" {
		t.Fatalf("files = %s", got)
	}
	if string(rev.Files[0].Data) != clusterV1 {
		t.Fatalf("tag content = %q", rev.Files[0].Data)
	}

	_, err = (&Git{opts: GitOptions{URL: "file://" + repo.dir, StateDir: t.TempDir(), Branch: "main", Path: "nowhere"}}).Latest(context.Background())
	if err == nil || !strings.Contains(err.Error(), `path "nowhere" not found`) {
		t.Fatalf("missing path: err = %v", err)
	}
}

func TestGitRefusesForcePush(t *testing.T) {
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprintf("allow=%v", allow), func(t *testing.T) {
			repo := newGitRepo(t)
			c1 := repo.commit("first", map[string]string{"cluster.yaml": clusterV1})
			c2 := repo.commit("second", map[string]string{"cluster.yaml": clusterV2})
			url := repo.daemon()
			g, err := NewGit(GitOptions{URL: url, StateDir: t.TempDir(), AllowForcePush: allow})
			if err != nil {
				t.Fatal(err)
			}
			if rev := latest(t, g); rev.ID != c2 {
				t.Fatalf("got %s want %s", rev.ID, c2)
			}
			g.Applied(c2)

			// Rewrite history: back to c1, then a different commit.
			repo.git("reset", "-q", "--hard", c1)
			c3 := repo.commit("rewritten", map[string]string{"cluster.yaml": clusterV1 + "# rewritten\n"})

			rev, err := g.Latest(context.Background())
			if !allow {
				if !errors.Is(err, ErrNotDescendant) {
					t.Fatalf("force-push: err = %v, want ErrNotDescendant", err)
				}
				if !strings.Contains(err.Error(), c3[:12]) || !strings.Contains(err.Error(), c2[:12]) {
					t.Fatalf("error should name both commits: %v", err)
				}
				var refused *RefusedError
				if !errors.As(err, &refused) || refused.Commit != c3 || refused.Summary != "rewritten" {
					t.Fatalf("error should carry the refused commit %s: %#v", c3, refused)
				}
				return
			}
			if err != nil || rev.ID != c3 {
				t.Fatalf("allowed force-push: rev=%v err=%v", rev, err)
			}
		})
	}
}

func TestGitSignedCommits(t *testing.T) {
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Skip("gpg not installed")
	}
	repo := newGitRepo(t)
	gnupg := filepath.Join(strings.TrimPrefix(envValue(repo.env, "HOME"), ""), ".gnupg")
	if err := os.MkdirAll(gnupg, 0o700); err != nil {
		t.Fatal(err)
	}
	gpg := func(args ...string) string {
		cmd := exec.Command("gpg", append([]string{"--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase", ""}, args...)...)
		cmd.Env = repo.env
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("gpg %v: %v", args, err)
		}
		return string(out)
	}
	gpg("--quick-gen-key", "Release Key <release@example.org>", "ed25519", "sign", "never")
	keyring := gpg("--armor", "--export", "release@example.org")
	t.Cleanup(func() { _ = exec.Command("gpgconf", "--homedir", gnupg, "--kill", "all").Run() })

	unsigned := repo.commit("unsigned", map[string]string{"cluster.yaml": clusterV1})
	g, err := NewGit(GitOptions{URL: "file://" + repo.dir, StateDir: t.TempDir(), Keyring: keyring})
	if err != nil {
		t.Fatal(err)
	}
	_, err = g.Latest(context.Background())
	if !errors.Is(err, ErrUnverified) || !strings.Contains(err.Error(), unsigned[:12]) {
		t.Fatalf("unsigned commit: err = %v, want ErrUnverified naming %s", err, unsigned[:12])
	}

	signed := repo.commit("signed", map[string]string{"cluster.yaml": clusterV2}, "-S", "--gpg-sign=release@example.org")
	rev, err := g.Latest(context.Background())
	if err != nil || rev.ID != signed {
		t.Fatalf("signed commit: rev=%v err=%v", rev, err)
	}
}

func envValue(env []string, key string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return ""
}

// TestGitHTTPBackendWithToken serves the repository with the real
// `git http-backend` behind HTTP basic auth and reads the token from a file.
func TestGitHTTPBackendWithToken(t *testing.T) {
	repo := newGitRepo(t)
	c1 := repo.commit("first", map[string]string{"cluster.yaml": clusterV1})
	execPath := repo.git("--exec-path")
	backend := &cgi.Handler{
		Path: filepath.Join(execPath, "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + filepath.Dir(repo.dir), "GIT_HTTP_EXPORT_ALL=1"},
	}
	const token = "s3cret-token"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pw, ok := r.BasicAuth(); !ok || pw != token {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	defer srv.Close()
	url := srv.URL + "/" + filepath.Base(repo.dir)

	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g, err := NewGit(GitOptions{URL: url, StateDir: t.TempDir(), TokenFile: tokenFile})
	if err != nil {
		t.Fatal(err)
	}
	if rev := latest(t, g); rev.ID != c1 {
		t.Fatalf("got %s want %s", rev.ID, c1)
	}

	noAuth, _ := NewGit(GitOptions{URL: url, StateDir: t.TempDir()})
	if _, err := noAuth.Latest(context.Background()); err == nil {
		t.Fatal("fetch without the token succeeded")
	}
}

func TestGitKeepsHistoryWhenRemoteGone(t *testing.T) {
	repo := newGitRepo(t)
	c1 := repo.commit("first", map[string]string{"cluster.yaml": clusterV1})
	state := t.TempDir()
	g, _ := NewGit(GitOptions{URL: "file://" + repo.dir, StateDir: state})
	latest(t, g)
	if err := os.RemoveAll(repo.dir); err != nil {
		t.Fatal(err)
	}
	// A restarted node (new Git value, same state dir) without its remote.
	g2, _ := NewGit(GitOptions{URL: "file://" + repo.dir, StateDir: state})
	_, err := g2.Latest(context.Background())
	if err == nil || !strings.Contains(err.Error(), "last fetched commit "+c1[:12]) {
		t.Fatalf("err = %v, want a fetch error naming the kept commit", err)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:pw@git.example.org/x.git": "https://***@git.example.org/x.git",
		"https://git.example.org/a@b":           "https://git.example.org/a@b",
		"git@example.org:x.git":                 "git@example.org:x.git",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
