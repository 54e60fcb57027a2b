package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// warnedCluster is valid but has one warning: a VIP prefix that holds
// none of the nodes' addresses.
const warnedCluster = `nodes:
  lb1: {address: 192.0.2.1, interface: eth0}
  lb2: {address: 192.0.2.2, interface: eth0}
vipGroups:
  web:
    vrid: 51
    vips: [192.0.2.10/24, 10.9.9.9/24]
    nodes: [lb1, lb2]
`

// writeWarned writes warnedCluster and returns its path and the start of
// the one warning line every command prints for it.
func writeWarned(t *testing.T) (path, want string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte(warnedCluster), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, "warning: " + path + ":7:27: vipGroups.web.vips[1]: prefix 10.9.9.0/24 of VIP 10.9.9.9 holds none of the group's node addresses (192.0.2.1, 192.0.2.2)"
}

// A warning is printed as "warning: FILE:LINE:COL: FIELD: MESSAGE" and
// leaves the exit status 0.
func TestValidateWarning(t *testing.T) {
	path, want := writeWarned(t)
	code, stdout, stderr := runCLI(t, "validate", path)
	if code != exitOK {
		t.Errorf("exit %d, want %d", code, exitOK)
	}
	if want := path + ": valid (2 nodes, 1 VIP group, 0 services)\n"; stdout != want {
		t.Errorf("stdout %q, want %q", stdout, want)
	}
	if !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("stderr:\n%s\nwant one line starting:\n%s", stderr, want)
	}

	code, _, stderr = runCLI(t, "validate", demoPath)
	if code != exitOK || stderr != "" {
		t.Errorf("demo: exit %d, stderr %q; want 0 and nothing", code, stderr)
	}
}

// plan, show and apply print the description's warnings to stderr as
// validate does, with their exit status and stdout unchanged: JSON output
// still parses.
func TestCommandsPrintWarnings(t *testing.T) {
	path, want := writeWarned(t)
	t.Setenv("HAKEEPER_ADDR", "127.0.0.1:1") // no daemon for apply to find
	tests := []struct {
		args     []string
		code     int
		isJSON   bool
		stdout   string // a substring of it
		stderrTo string // what else stderr says, after the warning
	}{
		{args: []string{"plan", "--offline", "--node", "lb1"}, code: exitChanges, stdout: "Plan: 1 to add"},
		{args: []string{"plan", "--offline", "--json", "--node", "lb1"}, code: exitChanges, isJSON: true},
		{args: []string{"show", "--node", "lb1"}, code: exitOK, stdout: "10.9.9.9/24"},
		{args: []string{"show", "--json", "--node", "lb1"}, code: exitOK, isJSON: true},
		{args: []string{"show", "--list-nodes"}, code: exitOK, stdout: "lb1\nlb2\n"},
		{args: []string{"apply", "--addr", "127.0.0.1:1", "--node", "lb1"}, code: exitOK, stdout: "Node lb1: no virtual services; nothing to apply.\n",
			stderrTo: "note: 1 VRRP instance(s) of node lb1 need the daemon ('hakeeper run'); not applied\n"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append(tc.args, path)...)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr %s", code, tc.code, stderr)
			}
			if !strings.Contains(stdout, tc.stdout) {
				t.Errorf("stdout lacks %q:\n%s", tc.stdout, stdout)
			}
			if tc.isJSON && !json.Valid([]byte(stdout)) {
				t.Errorf("stdout is not JSON:\n%s", stdout)
			}
			first, rest, _ := strings.Cut(stderr, "\n")
			if !strings.HasPrefix(first, want) || rest != tc.stderrTo {
				t.Errorf("stderr:\n%s\nwant one line starting\n%s\nthen %q", stderr, want, tc.stderrTo)
			}
		})
	}

	// Without warnings stderr stays empty.
	code, _, stderr := runCLI(t, "plan", "--offline", "--json", "--node", "lb1", demoPath)
	if code != exitChanges || stderr != "" {
		t.Errorf("demo: exit %d, stderr %q; want %d and nothing", code, stderr, exitChanges)
	}
}
