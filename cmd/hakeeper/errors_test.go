package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestErrorStyle: every command reports a failure the same way: the
// problems of a description one a line, then exactly one closing line
// "hakeeper: ...", exit status 1; a missing file is reported as missing,
// not as an invalid description.
func TestErrorStyle(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "x.yaml")
	noDaemon := "unix:" + filepath.Join(dir, "no-daemon.sock")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("cluster: x\nnodes:\n  a:\n    address: 192.0.2.1\n    interface: eth0\nvipGroups:\n  web:\n    vrid: 300\n    vips: [192.0.2.10/24]\n    nodes: [a]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		desc     string
		args     []string
		problems []string // the lines before the closing one
		closing  string   // the closing line, after "hakeeper: "
	}{
		{"validate, missing file", []string{"validate", missing}, nil, "stat " + missing + ": no such file or directory"},
		{"show, missing file", []string{"show", "--node", "a", missing}, nil, "stat " + missing + ": no such file or directory"},
		{"plan, missing file", []string{"plan", "--offline", "--node", "a", missing}, nil, "stat " + missing + ": no such file or directory"},
		{"apply, missing file", []string{"apply", "--addr", noDaemon, "--node", "a", missing}, nil, "stat " + missing + ": no such file or directory"},
		{"import, missing file", []string{"import", missing}, nil, "open " + missing + ": no such file or directory"},
		{"status, no daemon", []string{"status", "--addr", noDaemon}, nil, "hakeeper is not running"},
		{"unknown command", []string{"frobnicate"}, nil, `unknown command "frobnicate" for "hakeeper"`},
		{"missing argument", []string{"validate"}, nil, "accepts 1 arg(s), received 0"},
		{"validate, invalid", []string{"validate", bad}, []string{bad + ":8:5: vipGroups.web.vrid: 300 is out of range 1-255"}, bad + ": invalid (1 error)"},
		{"show, invalid", []string{"show", "--node", "a", bad}, []string{bad + ":8:5: vipGroups.web.vrid: "}, bad + ": invalid (1 error)"},
		{"plan, invalid", []string{"plan", "--offline", "--node", "a", bad}, []string{bad + ":8:5: vipGroups.web.vrid: "}, bad + ": invalid (1 error)"},
		{"run, invalid", []string{"run", "--node", "a", "--source", bad, "--listen", "off", "--state-dir", t.TempDir()},
			[]string{bad + ":8:5: vipGroups.web.vrid: "}, ": invalid (1 error)"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			code, _, stderr := runCLI(t, tc.args...)
			if code != exitError {
				t.Errorf("exit %d, want %d", code, exitError)
			}
			var lines []string
			for _, l := range strings.Split(strings.TrimSuffix(stderr, "\n"), "\n") {
				// run logs before it fails; the log is not the report.
				if !strings.HasPrefix(l, "time=") {
					lines = append(lines, l)
				}
			}
			if len(lines) != len(tc.problems)+1 {
				t.Fatalf("stderr has %d report lines, want %d:\n%s", len(lines), len(tc.problems)+1, stderr)
			}
			for i, p := range tc.problems {
				if !strings.HasPrefix(lines[i], p) {
					t.Errorf("line %d is %q, want it to start %q", i+1, lines[i], p)
				}
			}
			last := lines[len(lines)-1]
			if !strings.HasPrefix(last, "hakeeper: ") || !strings.Contains(last, tc.closing) {
				t.Errorf("closing line %q, want \"hakeeper: ...%s...\"", last, tc.closing)
			}
			if strings.Contains(stderr, "Error:") {
				t.Errorf("cobra's \"Error:\" style in:\n%s", stderr)
			}
		})
	}
}
