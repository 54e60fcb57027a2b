package gitserver

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// SSH is a real OpenSSH sshd on 127.0.0.1 that lets one key log in as
// root and serves git-upload-pack from root's PATH: a repository is at
// ssh://root@127.0.0.1:<Port><Repo.Dir>.
type SSH struct {
	Port int
	// KnownHosts is the known_hosts line for the server's host key.
	KnownHosts string
}

// NewSSH starts sshd until the test ends, authorizing authorizedKey (an
// authorized_keys line, as SSHKey returns). It skips the test when not
// root (sshd switches to the logged-in user) or sshd is not installed.
func NewSSH(t testing.TB, authorizedKey string) *SSH {
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
	hostPub := SSHKey(t, hostKey)
	auth := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(auth, []byte(authorizedKey), 0o600); err != nil {
		t.Fatal(err)
	}
	// sshd refuses to start without its privilege separation directory.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "sshd_config")
	cfg := fmt.Sprintf(`HostKey %s
AuthorizedKeysFile %s
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
StrictModes no
UsePAM %s
`, hostKey, auth, usePAM())
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// A bad configuration fails here, clearly, not as a refused login.
	if out, err := exec.Command(sshd, "-t", "-f", conf).CombinedOutput(); err != nil {
		t.Fatalf("sshd -t: %v\n%s", err, out)
	}
	addr, _ := inetd(t, func() *exec.Cmd { return exec.Command(sshd, "-i", "-e", "-f", conf) })
	port := addr.Port
	return &SSH{Port: port, KnownHosts: KnownHostsLine(port, hostPub)}
}

// usePAM is sshd's UsePAM for root's key login. Without PAM, sshd
// refuses every login to an account whose password is locked ("!" in
// /etc/shadow, as on some CI images), keys included; with PAM it leaves
// that to PAM, whose account check ignores the lock. PAM is used only
// then: its session modules are one more thing that can fail in a
// container.
func usePAM() string {
	shadow, err := os.ReadFile("/etc/shadow")
	if err != nil {
		return "no"
	}
	for _, line := range strings.Split(string(shadow), "\n") {
		if pw, ok := strings.CutPrefix(line, "root:"); ok && strings.HasPrefix(pw, "!") {
			return "yes"
		}
	}
	return "no"
}

// SSHKey makes an ed25519 key pair without passphrase at path (public
// key at path.pub) and returns the public key line. It skips the test
// when ssh-keygen is not installed.
func SSHKey(t testing.TB, path string) string {
	t.Helper()
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen not installed")
	}
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen %s: %v\n%s", path, err, out)
	}
	pub, err := os.ReadFile(path + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return string(pub)
}

// KnownHostsLine is the known_hosts line naming publicKey (a public key
// line) as the host key of 127.0.0.1:port.
func KnownHostsLine(port int, publicKey string) string {
	f := strings.Fields(publicKey)
	if len(f) < 2 {
		return ""
	}
	return fmt.Sprintf("[127.0.0.1]:%d %s %s\n", port, f[0], f[1])
}
