package source

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hakeeper/hakeeper/test/gitserver"
)

// TestGitOverSSH fetches over ssh:// with a key file and checks the host
// key against known_hosts: a wrong host key must be refused.
func TestGitOverSSH(t *testing.T) {
	gitserver.NeedGit(t)
	keyDir := t.TempDir()
	clientKey := filepath.Join(keyDir, "id_ed25519")
	pub := gitserver.SSHKey(t, clientKey)
	server := gitserver.NewSSH(t, pub)

	repo := gitserver.New(t)
	c1 := repo.Commit("first", map[string]string{"cluster.yaml": clusterV1})
	known := filepath.Join(keyDir, "known_hosts")
	if err := os.WriteFile(known, []byte(server.KnownHosts), 0o600); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("ssh://root@127.0.0.1:%d%s", server.Port, repo.Dir)

	g, err := NewGit(GitOptions{URL: url, StateDir: t.TempDir(), SSHKeyFile: clientKey, KnownHostsFile: known})
	if err != nil {
		t.Fatal(err)
	}
	if rev := latest(t, g); rev.ID != c1 {
		t.Fatalf("got %s want %s", rev.ID, c1)
	}

	// A known_hosts entry with another key for this host: refused.
	otherPub := gitserver.SSHKey(t, filepath.Join(keyDir, "other"))
	wrongKnown := filepath.Join(keyDir, "known_hosts_wrong")
	if err := os.WriteFile(wrongKnown, []byte(gitserver.KnownHostsLine(server.Port, otherPub)), 0o600); err != nil {
		t.Fatal(err)
	}
	bad, _ := NewGit(GitOptions{URL: url, StateDir: t.TempDir(), SSHKeyFile: clientKey, KnownHostsFile: wrongKnown})
	if _, err := bad.Latest(context.Background()); err == nil || !strings.Contains(err.Error(), "key mismatch") {
		t.Fatalf("wrong host key: err = %v, want a host key mismatch", err)
	}

	// No known_hosts at all: refused before connecting.
	noKnown, _ := NewGit(GitOptions{URL: url, StateDir: t.TempDir(), SSHKeyFile: clientKey})
	if _, err := noKnown.Latest(context.Background()); err == nil || !strings.Contains(err.Error(), "known_hosts") {
		t.Fatalf("missing known_hosts: err = %v", err)
	}
}
