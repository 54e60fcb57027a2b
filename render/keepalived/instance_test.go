package keepalived

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hakeeper/hakeeper/model"
)

// TestRenderSecrets: auth_pass is a placeholder unless secrets are read,
// then the environment variable's or the file's content (without its
// newline); an empty variable is an error naming the instance.
func TestRenderSecrets(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(file, []byte("fromfile\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HKT_PASS", "fromenv")
	t.Setenv("HKT_EMPTY", "")
	render := func(a model.Auth, with bool) (string, error) {
		st := &model.NodeState{Node: "n", Instances: []model.Instance{{Name: "g", Version: 2, Auth: &a}}}
		out, err := Render(st, RenderOptions{WithSecrets: with})
		return string(out), err
	}
	for _, tc := range []struct {
		auth model.Auth
		with bool
		want string
	}{
		{model.Auth{Type: "pass", SecretEnv: "HKT_PASS"}, false, "auth_pass " + secretPlaceholder},
		{model.Auth{Type: "pass", SecretEnv: "HKT_PASS"}, true, "auth_pass fromenv\n"},
		{model.Auth{Type: "pass", SecretFile: file}, true, "auth_pass fromfile\n"},
	} {
		out, err := render(tc.auth, tc.with)
		if err != nil || !strings.Contains(out, tc.want) {
			t.Errorf("Render(%+v, secrets %v) = %v, output:\n%s\nwant it to contain %q", tc.auth, tc.with, err, out, tc.want)
		}
	}
	_, err := render(model.Auth{Type: "pass", SecretEnv: "HKT_EMPTY"}, true)
	if err == nil || !strings.Contains(err.Error(), "vrrp_instance g") || !strings.Contains(err.Error(), "HKT_EMPTY") {
		t.Errorf("empty secret: err = %v, want one naming vrrp_instance g and HKT_EMPTY", err)
	}
}

// TestRenderInstanceState: the address owner starts as MASTER, every
// other node as BACKUP.
func TestRenderInstanceState(t *testing.T) {
	for state, want := range map[model.VRRPState]string{model.StateMaster: "state MASTER\n", model.StateBackup: "state BACKUP\n"} {
		st := &model.NodeState{Node: "n", Instances: []model.Instance{{Name: "g", Version: 3, InitialState: state, Preempt: true}}}
		out, err := Render(st, RenderOptions{})
		if err != nil || !strings.Contains(string(out), want) {
			t.Errorf("Render(initial state %s) = %v, output:\n%s\nwant it to contain %q", state, err, out, want)
		}
	}
}
