package gitserver

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// lsRemote runs `git ls-remote url main` as a client outside the
// repository would and returns the SHA it lists, or the error output.
func lsRemote(r *Repo, url string) (string, error) { return lsRemoteEnv(r, url) }

// lsRemoteEnv is lsRemote with extra environment variables.
func lsRemoteEnv(r *Repo, url string, env ...string) (string, error) {
	cmd := exec.Command("git", "ls-remote", url, "refs/heads/main")
	cmd.Env = append(append(r.Env, "GIT_TERMINAL_PROMPT=0"), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%v: %s", err, out)
	}
	sha, _, _ := strings.Cut(string(out), "\t")
	return sha, nil
}

func TestCommitAndServe(t *testing.T) {
	repo := New(t)
	first := repo.Commit("two files", map[string]string{"a.yaml": "a: 1\n", "sub/b.yaml": "b: 2\n"})
	second := repo.CommitFile("drop a", "a.yaml", "")
	if first == second || len(second) != 40 {
		t.Fatalf("commits %q then %q", first, second)
	}
	if files := repo.Git("ls-files"); files != "sub/b.yaml" {
		t.Errorf("tree after removing a.yaml: %q", files)
	}

	t.Run("git daemon", func(t *testing.T) {
		if got, err := lsRemote(repo, repo.Daemon()); err != nil || got != second {
			t.Errorf("ls-remote = %q, %v; want %s", got, err, second)
		}
	})
	t.Run("http-backend with a token", func(t *testing.T) {
		url := repo.HTTP("tok")
		if got, err := lsRemote(repo, url); err == nil {
			t.Errorf("ls-remote without the token listed %q", got)
		}
		withToken := strings.Replace(url, "http://", "http://x:tok@", 1)
		if got, err := lsRemote(repo, withToken); err != nil || got != second {
			t.Errorf("ls-remote with the token = %q, %v; want %s", got, err, second)
		}
	})
	t.Run("http-backend with basic auth", func(t *testing.T) {
		url := repo.HTTPBasic("ops", "pw")
		for _, creds := range []string{"", "other:pw@", "ops:wrong@"} {
			if got, err := lsRemote(repo, strings.Replace(url, "http://", "http://"+creds, 1)); err == nil {
				t.Errorf("ls-remote with credentials %q listed %q", creds, got)
			}
		}
		if got, err := lsRemote(repo, strings.Replace(url, "http://", "http://ops:pw@", 1)); err != nil || got != second {
			t.Errorf("ls-remote as ops = %q, %v; want %s", got, err, second)
		}
	})
	t.Run("http-backend on a given listener", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := repo.ServeHTTPOn(l, "")
		if want := "http://" + l.Addr().String() + "/cluster"; srv.URL != want {
			t.Errorf("URL %q, want %q", srv.URL, want)
		}
		if n := srv.Fetches("127.0.0.1"); n != 0 {
			t.Errorf("%d fetches before any client", n)
		}
		if got, err := lsRemote(repo, srv.URL); err != nil || got != second {
			t.Errorf("ls-remote = %q, %v; want %s", got, err, second)
		}
		if srv.Fetches("127.0.0.1") == 0 || srv.Fetches("192.0.2.1") != 0 {
			t.Errorf("fetches by 127.0.0.1 %d, by 192.0.2.1 %d; want some, none", srv.Fetches("127.0.0.1"), srv.Fetches("192.0.2.1"))
		}
	})
	t.Run("https with a private CA", func(t *testing.T) {
		ca := NewCA(t, "Test CA")
		url := repo.HTTPS(ca, "", "tok")
		if !strings.HasPrefix(url, "https://127.0.0.1:") {
			t.Fatalf("URL %q", url)
		}
		withToken := strings.Replace(url, "https://", "https://x:tok@", 1)
		if got, err := lsRemoteEnv(repo, withToken, "GIT_SSL_CAINFO="+ca.File); err != nil || got != second {
			t.Errorf("ls-remote trusting the CA = %q, %v; want %s", got, err, second)
		}
		other := NewCA(t, "Other CA")
		if got, err := lsRemoteEnv(repo, withToken, "GIT_SSL_CAINFO="+other.File); err == nil {
			t.Errorf("ls-remote trusting another CA listed %q", got)
		}
		if got, err := lsRemoteEnv(repo, url, "GIT_SSL_CAINFO="+ca.File); err == nil {
			t.Errorf("ls-remote without the token listed %q", got)
		}
	})
}

func TestSigningKey(t *testing.T) {
	repo := New(t)
	key := repo.SigningKey("Signer <signer@example.org>")
	if !strings.Contains(key, "BEGIN PGP PUBLIC KEY BLOCK") {
		t.Fatalf("SigningKey returned %q", key)
	}
	repo.CommitFile("signed", "x", "1\n", "-S", "--gpg-sign=signer@example.org")
	repo.Git("verify-commit", "HEAD") // fails the test when unsigned
	repo.CommitFile("unsigned", "x", "2\n")
	cmd := exec.Command("git", "verify-commit", "HEAD")
	cmd.Dir, cmd.Env = repo.Dir, repo.Env
	if err := cmd.Run(); err == nil {
		t.Error("an unsigned commit verified")
	}
}

// TestSSH lists the repository with `git ls-remote` over ssh://, as root
// with the authorized key, checking the host key against KnownHosts.
func TestSSH(t *testing.T) {
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("ssh client not installed")
	}
	repo := New(t)
	head := repo.CommitFile("first", "a.yaml", "a: 1\n")
	dir := t.TempDir()
	key := filepath.Join(dir, "id_ed25519")
	server := NewSSH(t, SSHKey(t, key))
	known := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(known, []byte(server.KnownHosts), 0o600); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("ssh://root@127.0.0.1:%d%s", server.Port, repo.Dir)
	sshCommand := func(knownHosts string) string {
		return "GIT_SSH_COMMAND=ssh -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes -i " + key +
			" -o StrictHostKeyChecking=yes -o UserKnownHostsFile=" + knownHosts
	}
	if got, err := lsRemoteEnv(repo, url, sshCommand(known)); err != nil || got != head {
		t.Fatalf("ls-remote over ssh = %q, %v; want %s", got, err, head)
	}
	// The host key is the one KnownHosts names: another one is refused.
	wrong := filepath.Join(dir, "known_hosts_wrong")
	other := SSHKey(t, filepath.Join(dir, "other"))
	if err := os.WriteFile(wrong, []byte(KnownHostsLine(server.Port, other)), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := lsRemoteEnv(repo, url, sshCommand(wrong)); err == nil {
		t.Fatalf("ls-remote with a wrong host key listed %q", got)
	}
}
