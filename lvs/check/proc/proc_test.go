package proc

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/lvs/check/proc/proctest"
)

func needSh(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
}

// output runs argv and returns what it wrote; it fails the test unless
// the command exits 0.
func output(t *testing.T, c Cmd) string {
	t.Helper()
	var out bytes.Buffer
	c.Output = &out
	st, err := Run(context.Background(), c)
	if err != nil || !st.Success() {
		t.Fatalf("%q: %v %v: %s", c.Argv, st, err, out.String())
	}
	return out.String()
}

func sortedLines(s string) []string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	slices.Sort(lines)
	return lines
}

func TestEnvironmentIsMinimal(t *testing.T) {
	needSh(t)
	t.Setenv("HKP_LEAK", "from-the-daemon")
	// `env` prints exactly the environment it was given (sh would add PWD).
	got := sortedLines(output(t, Cmd{Argv: []string{"env"}}))
	want := []string{"LANG=C", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	if !slices.Equal(got, want) {
		t.Errorf("environment %q, want %q", got, want)
	}
	if dir := strings.TrimSpace(output(t, Cmd{Argv: []string{"/bin/sh", "-c", "pwd"}})); dir != "/" {
		t.Errorf("working directory %q, want /", dir)
	}
}

// A bare program name is found in the command's PATH: the daemon's PATH,
// which differs between a shell and systemd, plays no part.
func TestProgramLookedUpInTheCommandsPath(t *testing.T) {
	needSh(t)
	daemonPath := t.TempDir()
	impostor := filepath.Join(daemonPath, "env")
	if err := os.WriteFile(impostor, []byte("#!/bin/sh\necho impostor\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(daemonPath, "hkp-only-in-daemon-path"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", daemonPath)
	if out := output(t, Cmd{Argv: []string{"env"}}); !strings.Contains(out, "LANG=C") {
		t.Errorf("env from the daemon's PATH ran: %q", out)
	}
	_, err := Run(context.Background(), Cmd{Argv: []string{"hkp-only-in-daemon-path"}})
	if !errors.Is(err, exec.ErrNotFound) {
		t.Errorf("program only in the daemon's PATH: err %v, want not found", err)
	}
}

func TestRunsAsUser(t *testing.T) {
	needSh(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to switch users")
	}
	entry, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	nobody, err := LookupUser("nobody")
	if err != nil {
		t.Fatal(err)
	}
	groups, err := entry.GroupIds()
	if err != nil {
		t.Fatal(err)
	}
	out := output(t, Cmd{Argv: []string{"/bin/sh", "-c", "id -u; id -g; id -G; env"}, User: nobody})
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 3 {
		t.Fatalf("output %q", out)
	}
	if lines[0] != entry.Uid || lines[1] != entry.Gid {
		t.Errorf("uid/gid %s/%s, want %s/%s", lines[0], lines[1], entry.Uid, entry.Gid)
	}
	// Only nobody's groups: none of root's are kept.
	gotGroups := strings.Fields(lines[2])
	slices.Sort(gotGroups)
	wantGroups := slices.Sorted(slices.Values(append(groups, entry.Gid)))
	if !slices.Equal(slices.Compact(gotGroups), slices.Compact(wantGroups)) {
		t.Errorf("groups %v, want %v", gotGroups, wantGroups)
	}
	env := lines[3:]
	for _, want := range []string{"HOME=" + entry.HomeDir, "USER=nobody", "LOGNAME=nobody", "LANG=C"} {
		if !slices.Contains(env, want) {
			t.Errorf("environment %q lacks %s", env, want)
		}
	}
}

func TestUserFrom(t *testing.T) {
	entry := func(uid, gid string) *user.User {
		return &user.User{Username: "svc", Uid: uid, Gid: gid, HomeDir: "/var/lib/svc"}
	}
	groups := func(ids ...string) func() ([]string, error) {
		return func() ([]string, error) { return ids, nil }
	}
	for _, tc := range []struct {
		desc       string
		entry      *user.User
		groups     func() ([]string, error)
		wantGroups []uint32
		wantErr    string
	}{
		{desc: "supplementary groups", entry: entry("990", "991"), groups: groups("991", "4", "27"), wantGroups: []uint32{991, 4, 27}},
		{desc: "a non-numeric group is skipped", entry: entry("990", "991"), groups: groups("991", "wheel"), wantGroups: []uint32{991}},
		{desc: "groups not listable: none kept", entry: entry("990", "991"),
			groups: func() ([]string, error) { return nil, errors.New("no /etc/group") }, wantGroups: []uint32{}},
		{desc: "non-numeric uid", entry: entry("S-1-5-18", "991"), groups: groups(), wantErr: `user "svc": uid "S-1-5-18"`},
		{desc: "non-numeric gid", entry: entry("990", "x"), groups: groups(), wantErr: `user "svc": gid "x"`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			u, err := userFrom(tc.entry, tc.groups)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c := u.Credential
			if c.Uid != 990 || c.Gid != 991 || u.Name != "svc" || u.Home != "/var/lib/svc" {
				t.Errorf("user %+v credential %+v", u, c)
			}
			// nil would be the same to setgroups(2), but say it: no groups.
			if c.Groups == nil || !slices.Equal(c.Groups, tc.wantGroups) {
				t.Errorf("groups %#v, want %#v", c.Groups, tc.wantGroups)
			}
		})
	}
	if _, err := LookupUser("hkp-no-such-user"); err == nil || !strings.Contains(err.Error(), `"hkp-no-such-user"`) {
		t.Errorf("unknown user: err %v, want one naming the user", err)
	}
}

func TestOwnProcessGroup(t *testing.T) {
	needSh(t)
	out := output(t, Cmd{Argv: []string{"/bin/sh", "-c", "echo $$; cat /proc/$$/stat"}})
	pid, stat, _ := strings.Cut(out, "\n")
	// Fields after the parenthesised name: state, ppid, pgrp.
	f := strings.Fields(stat[strings.LastIndexByte(stat, ')')+1:])
	if len(f) < 3 || f[2] != strings.TrimSpace(pid) {
		t.Errorf("process %s is in group %v, want its own", pid, f[2:3])
	}
	if pgrp, _ := strconv.Atoi(f[2]); pgrp == syscall.Getpgrp() {
		t.Error("command runs in the test's process group")
	}
}

func TestContextEndKillsTheGroup(t *testing.T) {
	needSh(t)
	for _, tc := range []struct {
		desc     string
		ctx      func() (context.Context, context.CancelFunc)
		wantErr  error
		wantText string
	}{
		{desc: "timeout", ctx: func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 300*time.Millisecond)
		}, wantErr: context.DeadlineExceeded, wantText: "timed out after"},
		{desc: "cancelled", ctx: func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(300*time.Millisecond, cancel)
			return ctx, cancel
		}, wantErr: context.Canceled, wantText: "stopped after"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			script, pidFile := proctest.Orphaner(t)
			ctx, cancel := tc.ctx()
			defer cancel()
			st, err := Run(ctx, Cmd{Argv: []string{"/bin/sh", "-c", script}})
			var killed *KilledError
			if !errors.As(err, &killed) || !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.wantText) ||
				!strings.Contains(err.Error(), "(process group killed)") {
				t.Fatalf("status %v, err %v; want a KilledError %q", st, err, tc.wantText)
			}
			proctest.WaitGone(t, pidFile)
		})
	}
}

func TestStatus(t *testing.T) {
	needSh(t)
	for _, tc := range []struct {
		script   string
		want     Status
		code     int
		text     string
		succeeds bool
	}{
		{script: "exit 0", want: Status{}, code: 0, text: "exit status 0", succeeds: true},
		{script: "exit 3", want: Status{Code: 3}, code: 3, text: "exit status 3"},
		{script: "kill -TERM $$", want: Status{Signal: syscall.SIGTERM}, code: 143, text: "signal: terminated"},
		{script: "kill -KILL $$", want: Status{Signal: syscall.SIGKILL}, code: 137, text: "signal: killed"},
	} {
		t.Run(tc.script, func(t *testing.T) {
			st, err := Run(context.Background(), Cmd{Argv: []string{"/bin/sh", "-c", tc.script}})
			if err != nil {
				t.Fatal(err)
			}
			if st != tc.want || st.ExitCode() != tc.code || st.String() != tc.text || st.Success() != tc.succeeds {
				t.Errorf("status %#v (code %d, %q, success %v), want %#v (%d, %q, %v)",
					st, st.ExitCode(), st, st.Success(), tc.want, tc.code, tc.text, tc.succeeds)
			}
		})
	}
}

func TestOutputGetsBothStreams(t *testing.T) {
	needSh(t)
	out := output(t, Cmd{Argv: []string{"/bin/sh", "-c", "echo to-stdout; echo to-stderr >&2"}})
	if out != "to-stdout\nto-stderr\n" {
		t.Errorf("output %q", out)
	}
}

// The injected starter starts the command prepared as described: it sees
// the process group, the environment and the credential, and its error is
// the caller's.
func TestStartsThroughTheStarter(t *testing.T) {
	needSh(t)
	var seen []*exec.Cmd
	start := func(cmd *exec.Cmd) error {
		seen = append(seen, cmd)
		return cmd.Start()
	}
	st, err := Run(context.Background(), Cmd{Argv: []string{"/bin/sh", "-c", "exit 4"}, Start: start})
	if err != nil || st.Code != 4 {
		t.Fatalf("status %v, err %v; want exit status 4", st, err)
	}
	if len(seen) != 1 || !seen[0].SysProcAttr.Setpgid || !slices.Equal(seen[0].Env, Environ(nil)) || seen[0].Dir != "/" {
		t.Errorf("starter saw %+v", seen)
	}
	refused := errors.New("no fork for you")
	if _, err := Run(context.Background(), Cmd{Argv: []string{"/bin/sh"}, Start: func(*exec.Cmd) error { return refused }}); !errors.Is(err, refused) {
		t.Errorf("starter's error: got %v", err)
	}
}

func TestStartErrors(t *testing.T) {
	if _, err := Run(context.Background(), Cmd{Argv: []string{"/nonexistent/hkp"}}); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing program: err %v", err)
	}
	if _, err := Run(context.Background(), Cmd{}); err == nil {
		t.Error("an empty command started")
	}
}
