package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
