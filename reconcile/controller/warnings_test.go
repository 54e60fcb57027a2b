package controller_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/hakeeper/hakeeper/reconcile/controller"
)

// lockedBuffer is a log sink safe for the controller's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines(substr string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range strings.Split(l.b.String(), "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return out
}

// A description warning (valid, but probably not meant) is logged at WARN
// once per revision: not again when a failed apply of that revision is
// retried nor when it is fetched again, and again for the next revision.
func TestDescriptionWarningLoggedOncePerRevision(t *testing.T) {
	var logs lockedBuffer
	src := &memSource{}
	first := src.set("cluster.yaml", cluster("192.0.2.100/24, 10.9.9.9/24", "1s", 1))
	n := newNodeWith(t, "lb1", src, t.TempDir(), func(c *controller.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	const warning = `warning="cluster.yaml:8:28: vipGroups.web.vips[1]: prefix 10.9.9.0/24 of VIP 10.9.9.9 holds none of the group's node addresses`
	for i := 0; i < 2; i++ {
		n.ipvs.FailAt = n.ipvs.Writes + 1
		if _, err := n.reconcile(true); err == nil {
			t.Fatal("apply succeeded although IPVS failed")
		}
	}
	n.ipvs.FailAt = 0
	for i := 0; i < 2; i++ {
		if _, err := n.reconcile(true); err != nil {
			t.Fatal(err)
		}
	}
	if got := n.ctl.Status().Applied.ID; got != first.ID {
		t.Fatalf("applied %s, want %s", got, first.ID)
	}
	lines := logs.lines(warning)
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "time=") || !strings.Contains(lines[0], " level=WARN ") || !strings.Contains(lines[0], "revision="+first.ID[:12]) {
		t.Fatalf("log lines with the warning:\n%s\nwant one WARN line naming revision %s; whole log:\n%s", strings.Join(lines, "\n"), first.ID[:12], logs.b.String())
	}

	second := src.set("cluster.yaml", cluster("192.0.2.100/24, 10.9.9.9/24", "1s", 2))
	if res, err := n.reconcile(true); err != nil || !res.Applied {
		t.Fatalf("second revision: %+v, %v", res, err)
	}
	if lines := logs.lines(warning); len(lines) != 2 || !strings.Contains(lines[1], "revision="+second.ID[:12]) {
		t.Errorf("after a second revision, log lines with the warning:\n%s\nwant a second one naming revision %s", strings.Join(lines, "\n"), second.ID[:12])
	}
}
