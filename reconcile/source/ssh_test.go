package source

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// sshServer runs a real OpenSSH sshd on 127.0.0.1 that lets one key log
// in as the current user (root in CI) and serves git-upload-pack from the
// user's PATH. It returns the port and the known_hosts line for it.
func sshServer(t *testing.T, authorizedKey string) (port int, knownHosts string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("sshd needs root to switch to the logged-in user")
	}
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		sshd = "/usr/sbin/sshd"
		if _, err := os.Stat(sshd); err != nil {
			t.Skip("openssh-server not installed")
		}
	}
	dir := t.TempDir()
	hostKey := filepath.Join(dir, "host_ed25519")
	run(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostKey)
	auth := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(auth, []byte(authorizedKey), 0o600); err != nil {
		t.Fatal(err)
	}
	// sshd refuses to start without its privilege separation directory.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	port = freePort(t)
	conf := filepath.Join(dir, "sshd_config")
	cfg := fmt.Sprintf(`ListenAddress 127.0.0.1
Port %d
HostKey %s
AuthorizedKeysFile %s
PidFile %s
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
`, port, hostKey, auth, filepath.Join(dir, "sshd.pid"))
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sshd, "-D", "-e", "-f", conf)
	var log strings.Builder
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("sshd log:\n%s", log.String())
		}
	})
	waitListening(t, fmt.Sprintf("127.0.0.1:%d", port))
	pub, err := os.ReadFile(hostKey + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(pub))
	return port, fmt.Sprintf("[127.0.0.1]:%d %s %s\n", port, fields[0], fields[1])
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// TestGitOverSSH fetches over ssh:// with a key file and checks the host
// key against known_hosts: a wrong host key must be refused.
func TestGitOverSSH(t *testing.T) {
	needGit(t)
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen not installed")
	}
	keyDir := t.TempDir()
	clientKey := filepath.Join(keyDir, "id_ed25519")
	run(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", clientKey)
	pub, err := os.ReadFile(clientKey + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	port, knownHosts := sshServer(t, string(pub))

	repo := newGitRepo(t)
	c1 := repo.commit("first", map[string]string{"cluster.yaml": clusterV1})
	known := filepath.Join(keyDir, "known_hosts")
	if err := os.WriteFile(known, []byte(knownHosts), 0o600); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("ssh://root@127.0.0.1:%d%s", port, repo.dir)

	g, err := NewGit(GitOptions{URL: url, StateDir: t.TempDir(), SSHKeyFile: clientKey, KnownHostsFile: known})
	if err != nil {
		t.Fatal(err)
	}
	if rev := latest(t, g); rev.ID != c1 {
		t.Fatalf("got %s want %s", rev.ID, c1)
	}

	// A known_hosts entry with another key for this host: refused.
	otherKey := filepath.Join(keyDir, "other")
	run(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", otherKey)
	otherPub, _ := os.ReadFile(otherKey + ".pub")
	f := strings.Fields(string(otherPub))
	wrongKnown := filepath.Join(keyDir, "known_hosts_wrong")
	os.WriteFile(wrongKnown, []byte(fmt.Sprintf("[127.0.0.1]:%d %s %s\n", port, f[0], f[1])), 0o600)
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
