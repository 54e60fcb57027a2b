package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// reviewBase is a three-node cluster: web on lb1 and lb2 (lb1 master),
// api on lb2 and lb1, lb3 only in spread groups.
const reviewBase = `cluster: review
defaults:
  check:
    none: {}
nodes:
  lb1: {address: 192.0.2.1, interface: eth0}
  lb2: {address: 192.0.2.2, interface: eth0}
  lb3: {address: 192.0.2.3, interface: eth0}
vipGroups:
  web:
    vrid: 51
    vips: [192.0.2.10/24]
    nodes: [lb1, lb2]
  api:
    vrid: 52
    vips: [192.0.2.20/24]
    nodes: [lb2, lb1]
  mail:
    vrid: 61
    vips: [192.0.2.31/24]
    nodes: [lb3, lb1]
services:
  web-http:
    vip: 192.0.2.10
    port: 80
    realServers:
      - address: 198.51.100.11
      - address: 198.51.100.12
`

// gitRepo is a Git repository in a temporary directory holding one
// commit per description, in order, at path.
func gitRepo(t *testing.T, path string, revisions ...string) string {
	t.Helper()
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	for i, text := range revisions {
		file := filepath.Join(dir, path)
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := wt.Add(path); err != nil {
			t.Fatal(err)
		}
		sig := &object.Signature{Name: "test", Email: "test@hakeeper.invalid", When: time.Date(2026, 12, 6, 8, i, 0, 0, time.UTC)}
		if _, err := wt.Commit("revision "+string(rune('a'+i)), &git.CommitOptions{Author: sig, AllowEmptyCommits: true}); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func edit(t *testing.T, text string, pairs ...string) string {
	t.Helper()
	for i := 0; i < len(pairs); i += 2 {
		if !strings.Contains(text, pairs[i]) {
			t.Fatalf("edit %q matches nothing", pairs[i])
		}
		text = strings.Replace(text, pairs[i], pairs[i+1], 1)
	}
	return text
}

func TestDiffGitRevisions(t *testing.T) {
	moved := edit(t, reviewBase, "    nodes: [lb1, lb2]", "    nodes: [lb2, lb1]")
	added := edit(t, reviewBase, "      - address: 198.51.100.12\n", "      - address: 198.51.100.12\n      - address: 198.51.100.13\n")
	recreated := edit(t, reviewBase, "    port: 80", "    port: 8080")
	invalid := edit(t, reviewBase, "vrid: 52", "vrid: 300")
	tests := []struct {
		desc    string
		new     string
		code    int
		want    []string
		notWant []string
	}{
		{"a VIP moves, with its reason", moved, exitChanges,
			[]string{"VIPs changing master:\n  web 192.0.2.10/24: lb1 -> lb2 (priority: lb2 200 > lb1 100 (was lb2 100, lb1 200))", "Nodes with no change: lb3"},
			nil},
		{"a real server added moves no VIP", added, exitChanges,
			[]string{"~ web-http tcp 192.0.2.10:80: update; added 198.51.100.13:80; 33.3% of the weight moves", "Nodes with no change: lb3", "=== node lb1 (changed)", "=== node lb2 (changed)"},
			[]string{"VIPs changing master"}},
		{"a recreated service is flagged", recreated, exitChanges,
			[]string{"! web-http tcp 192.0.2.10:8080: recreate (connections reset: port 80 -> 8080)"}, nil},
		{"nothing changes", reviewBase, exitOK, []string{"Nodes with no change: lb1, lb2, lb3"}, []string{"=== node"}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			dir := gitRepo(t, "cluster.yaml", reviewBase, tt.new)
			code, out, errOut := runCLI(t, "diff", "--repo", dir, "HEAD~1", "HEAD")
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tt.code, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(out, w) {
					t.Errorf("output has %q:\n%s", w, out)
				}
			}
		})
	}

	t.Run("an invalid NEW revision is an error naming file, line and field", func(t *testing.T) {
		dir := gitRepo(t, "cluster.yaml", reviewBase, invalid)
		code, out, errOut := runCLI(t, "diff", "--repo", dir, "HEAD~1", "HEAD")
		if code != exitError || out != "" {
			t.Fatalf("exit %d with output %q, want 1 and nothing on stdout", code, out)
		}
		if !strings.Contains(errOut, "cluster.yaml:15:5: vipGroups.api.vrid: 300 is out of range") || !strings.Contains(errOut, "hakeeper: revision HEAD (") ||
			!strings.Contains(errOut, "cluster description invalid (1 error)") {
			t.Errorf("stderr:\n%s", errOut)
		}
	})
	t.Run("an unknown revision is an error", func(t *testing.T) {
		dir := gitRepo(t, "cluster.yaml", reviewBase)
		code, _, errOut := runCLI(t, "diff", "--repo", dir, "HEAD", "no-such-branch")
		if code != exitError || !strings.Contains(errOut, `revision "no-such-branch"`) {
			t.Errorf("exit %d, stderr:\n%s", code, errOut)
		}
	})
	t.Run("--path, --json and --markdown", func(t *testing.T) {
		dir := gitRepo(t, "clusters/prod/cluster.yaml", reviewBase, moved)
		code, out, errOut := runCLI(t, "diff", "--repo", filepath.Join(dir, "clusters"), "--path", "clusters/prod", "--json", "HEAD~1", "HEAD")
		if code != exitChanges {
			t.Fatalf("exit %d, stderr:\n%s", code, errOut)
		}
		var doc struct {
			FormatVersion  int
			VIPMoves       []struct{ Group, From, To, Reason string }
			UnchangedNodes []string
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatal(err)
		}
		if doc.FormatVersion != 1 || len(doc.VIPMoves) != 1 || doc.VIPMoves[0].From != "lb1" || doc.VIPMoves[0].To != "lb2" ||
			doc.VIPMoves[0].Reason != "priority" || len(doc.UnchangedNodes) != 1 {
			t.Errorf("JSON %+v:\n%s", doc, out)
		}
		code, out, _ = runCLI(t, "diff", "--repo", dir, "--path", "clusters/prod", "--markdown", "HEAD~1", "HEAD")
		if code != exitChanges || !strings.HasPrefix(out, "### hakeeper diff `HEAD~1 (") ||
			!strings.Contains(out, "| web | 192.0.2.10/24 | lb1 | lb2 | priority: ") {
			t.Errorf("exit %d, Markdown:\n%s", code, out)
		}
	})
}

func TestDiffPaths(t *testing.T) {
	dir := t.TempDir()
	old, new := filepath.Join(dir, "old.yaml"), filepath.Join(dir, "new.yaml")
	os.WriteFile(old, []byte(reviewBase), 0o644)
	os.WriteFile(new, []byte(edit(t, reviewBase, "vrid: 51", "vrid: 53")), 0o644)
	code, out, errOut := runCLI(t, "diff", old, new)
	if code != exitChanges || !strings.Contains(out, "web: vrid 51 -> 53; its VIPs are down for up to 3.21875s") {
		t.Errorf("exit %d, output:\n%s%s", code, out, errOut)
	}
	code, _, errOut = runCLI(t, "diff", old, invalidPath)
	if code != exitError || !strings.Contains(errOut, "hakeeper: "+invalidPath+": ") {
		t.Errorf("exit %d, stderr:\n%s", code, errOut)
	}
}

func TestSimulateCommand(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cluster.yaml")
	os.WriteFile(path, []byte(reviewBase), 0o644)
	code, out, errOut := runCLI(t, "simulate", "--fail-node", "lb1", path)
	if code != exitOK || !strings.Contains(out, "web 192.0.2.10/24: lb1 -> lb2 within 3.609375s, held by nobody meanwhile (lb1 failed)") ||
		!strings.Contains(out, "web-http tcp 192.0.2.10:80 on lb2: ok") {
		t.Errorf("exit %d, output:\n%s%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, "simulate", "--fail-node", "lb1", "--fail-node", "lb2", path)
	if code != exitChanges || !strings.Contains(out, "web 192.0.2.10/24: held by NOBODY (was lb1)") {
		t.Errorf("exit %d, output:\n%s", code, out)
	}
	code, _, errOut = runCLI(t, "simulate", "--fail-node", "lb9", path)
	if code != exitError || !strings.Contains(errOut, `failed node "lb9" is not in the cluster description`) {
		t.Errorf("exit %d, stderr:\n%s", code, errOut)
	}
}
