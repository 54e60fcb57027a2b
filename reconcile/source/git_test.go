package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/reconcile"
	"github.com/hakeeper/hakeeper/test/gitserver"
)

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
	repo := gitserver.New(t)
	c1 := repo.Commit("first", map[string]string{"cluster.yaml": clusterV1, "README.md": "not yaml"})
	url := repo.Daemon()
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

	c2 := repo.Commit("add lb2", map[string]string{"cluster.yaml": clusterV2})
	rev = latest(t, g)
	if rev.ID != c2 || string(rev.Files[0].Data) != clusterV2 {
		t.Fatalf("after second commit got %s, want %s", rev.ID, c2)
	}
}

func TestGitSubPathAndTag(t *testing.T) {
	repo := gitserver.New(t)
	repo.Commit("layout", map[string]string{
		"clusters/prod/nodes.yaml":    clusterV1,
		"clusters/prod/.hidden.yaml":  "ignored: true",
		"clusters/prod/sub/more.yml":  "services: {}\n",
		"clusters/staging/other.yaml": clusterV2,
	})
	tagged := repo.Git("rev-parse", "HEAD")
	repo.Git("tag", "-a", "-m", "release", "v1")
	repo.Commit("later", map[string]string{"clusters/prod/nodes.yaml": clusterV2})

	g, err := NewGit(GitOptions{URL: "file://" + repo.Dir, StateDir: t.TempDir(), Path: "/clusters/prod/", Tag: "v1"})
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
	// Sub-directories are not read, as in the directory source.
	if got := strings.Join(names, ","); got != "clusters/prod/nodes.yaml" {
		t.Fatalf("files = %s", got)
	}
	if string(rev.Files[0].Data) != clusterV1 {
		t.Fatalf("tag content = %q", rev.Files[0].Data)
	}

	_, err = (&Git{opts: GitOptions{URL: "file://" + repo.Dir, StateDir: t.TempDir(), Branch: "main", Path: "nowhere"}}).Latest(context.Background())
	if err == nil || !strings.Contains(err.Error(), `path "nowhere" not found`) {
		t.Fatalf("missing path: err = %v", err)
	}
	_, err = (&Git{opts: GitOptions{URL: "file://" + repo.Dir, StateDir: t.TempDir(), Branch: "main", Path: "clusters"}}).Latest(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no *.yaml or *.yml files in clusters (sub-directories are not read); did you mean --path clusters/prod or clusters/staging?") {
		t.Fatalf("parent of clusters: err = %v", err)
	}
}

// A symlink committed as *.yaml is refused by name: its target is not
// read, inside the repository or out.
func TestGitRefusesSymlinks(t *testing.T) {
	repo := gitserver.New(t)
	repo.Commit("first", map[string]string{"cluster.yaml": clusterV1})
	if err := os.Symlink("/etc/passwd", filepath.Join(repo.Dir, "more.yaml")); err != nil {
		t.Fatal(err)
	}
	repo.Git("add", "more.yaml")
	repo.Git("commit", "-q", "-m", "symlink")
	g, err := NewGit(GitOptions{URL: "file://" + repo.Dir, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = g.Latest(context.Background())
	if err == nil || !strings.Contains(err.Error(), "more.yaml: not a regular file (a symlink); refused") {
		t.Fatalf("err = %v", err)
	}
}

// The files of a commit share one byte budget, checked before and while
// reading each blob.
func TestGitDescriptionBudget(t *testing.T) {
	repo := gitserver.New(t)
	half := strings.Repeat("#", reconcile.MaxDescriptionBytes/2)
	repo.Commit("two halves", map[string]string{"a.yaml": half, "b.yaml": half})
	g, err := NewGit(GitOptions{URL: "file://" + repo.Dir, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	latest(t, g)
	repo.Commit("one byte more", map[string]string{"c.yaml": "#"})
	_, err = g.Latest(context.Background())
	if err == nil || !strings.Contains(err.Error(), "c.yaml: the description is larger than the 64 MiB limit") {
		t.Fatalf("err = %v", err)
	}
}

func TestGitRefusesForcePush(t *testing.T) {
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprintf("allow=%v", allow), func(t *testing.T) {
			repo := gitserver.New(t)
			c1 := repo.Commit("first", map[string]string{"cluster.yaml": clusterV1})
			c2 := repo.Commit("second", map[string]string{"cluster.yaml": clusterV2})
			url := repo.Daemon()
			g, err := NewGit(GitOptions{URL: url, StateDir: t.TempDir(), AllowForcePush: allow})
			if err != nil {
				t.Fatal(err)
			}
			if rev := latest(t, g); rev.ID != c2 {
				t.Fatalf("got %s want %s", rev.ID, c2)
			}
			g.Applied(c2)

			// Rewrite history: back to c1, then a different commit.
			repo.Git("reset", "-q", "--hard", c1)
			c3 := repo.Commit("rewritten", map[string]string{"cluster.yaml": clusterV1 + "# rewritten\n"})

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
	repo := gitserver.New(t)
	keyring := repo.SigningKey("Release Key <release@example.org>")

	unsigned := repo.Commit("unsigned", map[string]string{"cluster.yaml": clusterV1})
	g, err := NewGit(GitOptions{URL: "file://" + repo.Dir, StateDir: t.TempDir(), Keyring: keyring})
	if err != nil {
		t.Fatal(err)
	}
	_, err = g.Latest(context.Background())
	if !errors.Is(err, ErrUnverified) || !strings.Contains(err.Error(), unsigned[:12]) {
		t.Fatalf("unsigned commit: err = %v, want ErrUnverified naming %s", err, unsigned[:12])
	}

	signed := repo.Commit("signed", map[string]string{"cluster.yaml": clusterV2}, "-S", "--gpg-sign=release@example.org")
	rev, err := g.Latest(context.Background())
	if err != nil || rev.ID != signed {
		t.Fatalf("signed commit: rev=%v err=%v", rev, err)
	}
}

// TestGitHTTPBackendWithToken serves the repository with the real
// `git http-backend` behind HTTP basic auth and reads the token from a file.
func TestGitHTTPBackendWithToken(t *testing.T) {
	repo := gitserver.New(t)
	c1 := repo.Commit("first", map[string]string{"cluster.yaml": clusterV1})
	const token = "s3cret-token"
	url := repo.HTTP(token)

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

// TestGitHTTPAuth fetches from the real `git http-backend`, over http and
// over https with a certificate from a private CA, with the credentials
// read from files; the server refuses anything else.
func TestGitHTTPAuth(t *testing.T) {
	repo := gitserver.New(t)
	c1 := repo.Commit("first", map[string]string{"cluster.yaml": clusterV1})
	ca := gitserver.NewCA(t, "Ops CA")
	secrets := t.TempDir()
	secret := func(name, content string) string {
		p := filepath.Join(secrets, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	token := secret("token", "s3cret-token\n")
	password := secret("password", "hunter2\n") // the newline is not part of it
	wrong := secret("wrong", "hunter3\n")

	httpsToken := repo.HTTPS(ca, "", "s3cret-token")
	httpsBasic := repo.HTTPS(ca, "ops", "hunter2")
	httpBasic := repo.HTTPBasic("ops", "hunter2")
	for _, tc := range []struct {
		desc string
		opts GitOptions
		// wantErr is a part of the error; "" = the fetch succeeds.
		wantErr string
	}{
		{desc: "https with a token file", opts: GitOptions{URL: httpsToken, TokenFile: token, CAFile: ca.File}},
		{desc: "https without the token", opts: GitOptions{URL: httpsToken, CAFile: ca.File}, wantErr: "authentication required"},
		{desc: "https with basic auth from a password file", opts: GitOptions{URL: httpsBasic, Username: "ops", PasswordFile: password, CAFile: ca.File}},
		{desc: "https basic auth as another user", opts: GitOptions{URL: httpsBasic, Username: "dev", PasswordFile: password, CAFile: ca.File}, wantErr: "authentication required"},
		{desc: "http with basic auth from a password file", opts: GitOptions{URL: httpBasic, Username: "ops", PasswordFile: password}},
		{desc: "http basic auth with a wrong password", opts: GitOptions{URL: httpBasic, Username: "ops", PasswordFile: wrong}, wantErr: "authentication required"},
		{desc: "http basic auth with a missing password file", opts: GitOptions{URL: httpBasic, Username: "ops", PasswordFile: filepath.Join(secrets, "nothing")}, wantErr: filepath.Join(secrets, "nothing")},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			tc.opts.StateDir = t.TempDir()
			g, err := NewGit(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			rev, err := g.Latest(context.Background())
			if tc.wantErr == "" {
				if err != nil || rev.ID != c1 {
					t.Fatalf("got %v, %v; want commit %s", rev, err, c1)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestGitHTTPSUntrusted: a server whose certificate is not from a trusted
// CA is refused, with an error that says so and names the issuer, and a
// CA file that holds no certificate is refused before connecting.
func TestGitHTTPSUntrusted(t *testing.T) {
	repo := gitserver.New(t)
	repo.Commit("first", map[string]string{"cluster.yaml": clusterV1})
	ca := gitserver.NewCA(t, "Ops CA")
	url := repo.HTTPS(ca, "", "")
	other := gitserver.NewCA(t, "Other CA")
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		desc    string
		caFile  string
		wantErr []string
	}{
		{desc: "system CAs only", wantErr: []string{`not signed by a trusted CA (the system's CAs)`, `issued by "Ops CA"`}},
		{desc: "another private CA", caFile: other.File, wantErr: []string{"not signed by a trusted CA", "and those in " + other.File, `issued by "Ops CA"`}},
		{desc: "a CA file without a certificate", caFile: notPEM, wantErr: []string{"CA file " + notPEM + ": no PEM certificate"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			g, err := NewGit(GitOptions{URL: url, StateDir: t.TempDir(), CAFile: tc.caFile})
			if err != nil {
				t.Fatal(err)
			}
			_, err = g.Latest(context.Background())
			for _, want := range tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("err = %v, want one containing %q", err, want)
				}
			}
		})
	}
	// The same server, its CA trusted: the refusal above was the certificate.
	g, _ := NewGit(GitOptions{URL: url, StateDir: t.TempDir(), CAFile: ca.File})
	if _, err := g.Latest(context.Background()); err != nil {
		t.Fatalf("with its CA trusted: %v", err)
	}
}

func TestGitKeepsHistoryWhenRemoteGone(t *testing.T) {
	repo := gitserver.New(t)
	c1 := repo.Commit("first", map[string]string{"cluster.yaml": clusterV1})
	state := t.TempDir()
	g, _ := NewGit(GitOptions{URL: "file://" + repo.Dir, StateDir: state})
	latest(t, g)
	if err := os.RemoveAll(repo.Dir); err != nil {
		t.Fatal(err)
	}
	// A restarted node (new Git value, same state dir) without its remote.
	g2, _ := NewGit(GitOptions{URL: "file://" + repo.Dir, StateDir: state})
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

// Credential and CA files are read at every fetch: a FIFO or a device in
// their place is refused at once, not read forever under the source's lock.
func TestGitRefusesSpecialCredentialFiles(t *testing.T) {
	repo := gitserver.New(t)
	repo.Commit("first", map[string]string{"cluster.yaml": clusterV1})
	fifo := filepath.Join(t.TempDir(), "token")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, o := range []GitOptions{
		{TokenFile: fifo},
		{PasswordFile: "/dev/zero", Username: "ops"},
		{CAFile: "/dev/urandom"},
	} {
		o.URL, o.StateDir = "file://"+repo.Dir, t.TempDir()
		g, err := NewGit(o)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { _, err := g.Latest(context.Background()); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("%+v: err = %v", o, err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%+v: Latest hung", o)
		}
	}
}
