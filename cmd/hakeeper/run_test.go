package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hakeeper/hakeeper/reconcile/status"
)

// TestRunBadInput: `run` refuses to start on bad flags or a description
// that does not load, naming the problem, before touching the kernel.
func TestRunBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("cluster: x\nnodes:\n  a:\n    address: 10.0.0.1\n    interface: eth0\nvipGroups:\n  web:\n    vrid: 300\n    vips: [10.0.0.10/24]\n    nodes: [a]\n"), 0o644)
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("cluster: x\nnodes:\n  a:\n    address: 10.0.0.1\n    interface: eth0\nvipGroups:\n  web:\n    vrid: 30\n    vips: [10.0.0.10/24]\n    nodes: [a]\n"), 0o644)
	for _, tc := range []struct {
		desc string
		args []string
		want []string
	}{
		{"no source", []string{"run", "--node", "a"}, []string{"--source is required"}},
		{"bad log level", []string{"run", "--node", "a", "--source", good, "--log-level", "loud"}, []string{`--log-level "loud"`}},
		{"missing source", []string{"run", "--node", "a", "--source", filepath.Join(dir, "nope")}, []string{"nope"}},
		{"invalid description", []string{"run", "--node", "a", "--source", bad}, []string{"bad.yaml", "vrid"}},
		{"unknown node", []string{"run", "--node", "zz", "--source", good}, []string{"zz"}},
		{"positional argument", []string{"run", "--node", "a", "--source", good, "extra"}, []string{"extra"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := execute(tc.args, &stdout, &stderr)
			if code != exitError {
				t.Errorf("exit code %d, want %d", code, exitError)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr %q does not mention %q", stderr.String(), w)
				}
			}
		})
	}
}

// TestRunStatusFile: status.json is the /status report, replaced whole (no temporary file is
// left beside it), reads back as written, and is not rewritten while
// nothing changed.
func TestRunStatusFile(t *testing.T) {
	dir := t.TempDir()
	w := &runStatusWriter{path: filepath.Join(dir, "status.json")}
	st := &status.Report{Node: "lb1", Healthy: true, VIPGroups: []status.VIPGroup{{
		Name: "web", Interface: "eth0", Family: "ipv4", VRID: 51, State: "master", Priority: 200, Master: "192.0.2.1",
	}}}
	if err := w.write(st); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "status.json")
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	// The /status report, as 'hakeeper status --json' prints it.
	var got status.Report
	if err := json.Unmarshal(b, &got); err != nil || got.Node != "lb1" || len(got.VIPGroups) != 1 || got.VIPGroups[0].State != "master" || got.VIPGroups[0].Master != "192.0.2.1" {
		t.Fatalf("status.json = %s (%v)", b, err)
	}
	if !strings.Contains(string(b), `"state": "master"`) {
		t.Errorf("status.json is not indented as its readers expect: %s", b)
	}
	if err := w.write(st); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.Stat(path); !os.SameFile(before, after) {
		t.Errorf("status.json rewritten although nothing changed")
	}
	st.VIPGroups[0].State = "backup"
	if err := w.write(st); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.Stat(path); os.SameFile(before, after) {
		t.Errorf("status.json not replaced after a change")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("state directory holds %d files, want only status.json: %v", len(entries), entries)
	}
}

// TestRunRefusesSpecialSecretFiles: --webhook-secret-file and --keyring
// are read as bounded regular files. A FIFO used to hang the start (the
// open waits for a writer) and /dev/zero to read until memory ran out;
// now run exits at once with an error naming the file.
func TestRunRefusesSpecialSecretFiles(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("cluster: x\nnodes:\n  a:\n    address: 10.0.0.1\n    interface: eth0\nvipGroups:\n  web:\n    vrid: 30\n    vips: [10.0.0.10/24]\n    nodes: [a]\n"), 0o644)
	fifo := filepath.Join(dir, "secret.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// Once the test is over, a writer releases a read the old code left
	// blocked in the open.
	t.Cleanup(func() {
		if f, err := os.OpenFile(fifo, os.O_RDWR, 0); err == nil {
			f.Close()
		}
	})
	for _, tc := range []struct {
		desc, file string
		args       []string
	}{
		{"webhook secret FIFO", fifo, []string{"--source", good, "--webhook-secret-file", fifo}},
		{"webhook secret /dev/zero", "/dev/zero", []string{"--source", good, "--webhook-secret-file", "/dev/zero"}},
		// The keyring is read before the repository is touched.
		{"keyring FIFO", fifo, []string{"--source", "https://127.0.0.1:1/cluster.git", "--keyring", fifo, "--state-dir", dir}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			code, stderr := runCLIBounded(t, append([]string{"run", "--node", "a", "--listen", "off"}, tc.args...)...)
			if code != exitError || !strings.Contains(stderr, tc.file+": not a regular file") {
				t.Errorf("exit %d, stderr %q; want 1 and %s refused as not a regular file", code, stderr, tc.file)
			}
		})
	}
}
