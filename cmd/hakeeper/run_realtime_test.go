package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRunRealtimeFlag(t *testing.T) {
	root := newRootCmd(&bytes.Buffer{}, &bytes.Buffer{})
	run, _, err := root.Find([]string{"run"})
	if err != nil || run.Name() != "run" {
		t.Fatalf("no run command: %v", err)
	}
	f := run.Flags().Lookup("realtime")
	if f == nil {
		t.Fatal("run has no --realtime flag (was run.go's factory registered after run_realtime.go's init?)")
	}
	if f.NoOptDefVal != "10" || f.DefValue != "0" {
		t.Errorf("--realtime default %q, alone %q; want 0 and 10", f.DefValue, f.NoOptDefVal)
	}
	for _, name := range []string{"validate", "show", "plan"} {
		if c, _, err := root.Find([]string{name}); err == nil && c.Flags().Lookup("realtime") != nil {
			t.Errorf("%s got --realtime too", name)
		}
	}
}

func TestRunRealtimeRejectsPriority(t *testing.T) {
	for _, arg := range []string{"--realtime=0", "--realtime=100"} {
		var stderr bytes.Buffer
		code := execute([]string{"run", arg, "--source", t.TempDir()}, &bytes.Buffer{}, &stderr)
		if code != exitError || !strings.Contains(stderr.String(), "want a priority from 1 to 99") {
			t.Errorf("run %s: exit %d, %q", arg, code, stderr.String())
		}
	}
}
