package gitserver

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// lsRemote runs `git ls-remote url main` as a client outside the
// repository would and returns the SHA it lists, or the error output.
func lsRemote(r *Repo, url string) (string, error) {
	cmd := exec.Command("git", "ls-remote", url, "refs/heads/main")
	cmd.Env = append(r.Env, "GIT_TERMINAL_PROMPT=0")
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
