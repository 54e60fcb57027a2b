package keepalived

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/hakeeper/hakeeper/test/golden"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/reconcile"
)

// roundTripClusters are the example clusters plus the descriptions the
// import corpus produced (its golden files).
func roundTripClusters(t *testing.T) map[string][]model.File {
	t.Helper()
	out := map[string][]model.File{}
	examples, _ := filepath.Glob("../../examples/*")
	for _, dir := range examples {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			continue
		}
		files, err := reconcile.ReadFiles(dir)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		if c, err := model.Load(files); err == nil && c.BGP != nil {
			continue // keepalived has no BGP: Render refuses (TestRenderRefusesBGP)
		}
		out["examples/"+filepath.Base(dir)] = files
	}
	goldens, _ := filepath.Glob("testdata/golden/*.yaml")
	for _, g := range goldens {
		data, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		out["import/"+strings.TrimSuffix(filepath.Base(g), ".yaml")] = []model.File{{Name: g, Data: data}}
	}
	if len(out) == 0 {
		t.Fatal("no clusters to round-trip")
	}
	return out
}

func sortedNodes(c *model.Cluster) []string {
	var names []string
	for n := range c.Nodes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// renderCluster renders every node's keepalived.conf into dir.
func renderCluster(t *testing.T, c *model.Cluster, dir string) (map[string]*model.NodeState, []Source) {
	t.Helper()
	states := map[string]*model.NodeState{}
	var srcs []Source
	for _, n := range sortedNodes(c) {
		st, err := model.Desired(c, n)
		if err != nil {
			t.Fatalf("Desired(%s): %v", n, err)
		}
		if len(st.Instances) == 0 && len(st.Services) == 0 {
			// A real server only: keepalived has nothing to run there
			// (its real-server role is hakeeper's alone).
			continue
		}
		states[n] = st
		conf, err := Render(st, RenderOptions{})
		if err != nil {
			t.Fatalf("Render(%s): %v", n, err)
		}
		path := filepath.Join(dir, n+".conf")
		writeFile(t, path, string(conf))
		srcs = append(srcs, Source{Node: n, Path: path})
	}
	return states, srcs
}

// TestRoundTrip renders every node of every cluster, imports the
// rendered files back and requires the same desired state on every node,
// up to the documented differences normalize removes.
func TestRoundTrip(t *testing.T) {
	for name, files := range roundTripClusters(t) {
		t.Run(name, func(t *testing.T) {
			c, err := model.Load(files)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			before, srcs := renderCluster(t, c, dir)
			opts := Options{Cluster: c.Name, Addresses: map[string][]string{}}
			for n, node := range c.Nodes {
				for _, a := range []string{node.Address, node.Address6} {
					if a != "" {
						opts.Addresses[n] = append(opts.Addresses[n], a)
					}
				}
			}
			res, err := Import(srcs, opts)
			if err != nil {
				t.Fatal(err)
			}
			out, err := Marshal(res)
			if err != nil {
				t.Fatal(err)
			}
			back, err := model.Load([]model.File{{Name: "reimported.yaml", Data: out}})
			if err != nil {
				t.Fatal(err)
			}
			var rendered []string
			for _, s := range srcs {
				rendered = append(rendered, s.Node)
			}
			if got := sortedNodes(back); !reflect.DeepEqual(got, rendered) {
				t.Fatalf("nodes after round trip %v, want %v", got, rendered)
			}
			for _, n := range rendered {
				after, err := model.Desired(back, n)
				if err != nil {
					t.Fatalf("Desired(%s) after import: %v", n, err)
				}
				a, b := normalize(t, before[n]), normalize(t, after)
				if a != b {
					t.Errorf("node %s: desired state differs after render+import\n%s\nreimported description:\n%s", n, diffLines(a, b), out)
				}
			}
		})
	}
}

// normalize removes the differences a keepalived.conf cannot carry
// (see the package doc): commands compare by argv (keepalived has no
// shell form; sh -c of plain words equals those words), the secret's location, notify timeouts, real-server
// check rise/fall, HTTPS certificate verification and SNI, HTTP body
// substrings, and UDP reply matching beyond require_reply.
func normalize(t *testing.T, st *model.NodeState) string {
	t.Helper()
	var s model.NodeState
	b, _ := json.Marshal(st)
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	argv := func(c *model.Command) {
		switch {
		case c.Shell != "" && shellSafe(c.Shell):
			// sh -c of plain words runs exactly those words.
			*c = model.Command{Argv: strings.Fields(c.Shell)}
		case !c.IsZero():
			*c = model.Command{Argv: c.Args()}
		}
	}
	notify := func(n *model.NotifySpec) {
		argv(&n.Master)
		argv(&n.Backup)
		argv(&n.Fault)
		argv(&n.Stop)
		n.Timeout = 0
		if !n.HasHooks() {
			n.User = "" // who would run no hooks does not matter
		}
	}
	for i := range s.Checks {
		argv(&s.Checks[i].Command)
	}
	for i := range s.Instances {
		in := &s.Instances[i]
		notify(&in.Notify)
		if in.Auth != nil {
			in.Auth = &model.Auth{Type: in.Auth.Type}
		}
	}
	for i := range s.SyncGroups {
		notify(&s.SyncGroups[i].Notify)
	}
	for i := range s.Services {
		// keepalived.conf holds no marking rules: import takes them from
		// iptables-save (TestImportIPTablesSave), not from the conf.
		s.Services[i].Match = nil
		for j := range s.Services[i].RealServers {
			c := s.Services[i].RealServers[j].Check
			if c == nil {
				continue
			}
			c.Rise, c.Fall = 1, 1
			if c.HTTP != nil {
				c.HTTP.InsecureSkipVerify, c.HTTP.SNI, c.HTTP.Body = false, "", ""
			}
			if c.UDP != nil {
				c.UDP.RequireReply = c.UDP.RequireReply || c.UDP.Expect != ""
			}
			if c.Exec != nil {
				argv(&c.Exec.Command)
			}
		}
	}
	out, _ := json.MarshalIndent(&s, "", " ")
	return string(out)
}

func diffLines(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			out = append(out, fmt.Sprintf("line %d:\n  before: %s\n  after:  %s", i+1, x, y))
			if len(out) > 10 {
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

// TestKeepalivedAcceptsRender runs `keepalived -t` on every rendered
// node config and on every file of the import corpus, inside a network
// namespace holding the interfaces the config names (keepalived checks
// that they exist).
func TestKeepalivedAcceptsRender(t *testing.T) {
	ka, err := exec.LookPath("keepalived")
	if err != nil {
		t.Skip("keepalived not installed (CI installs it via make deps)")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace with the configs' interfaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command")
	}
	var confs []string
	for name, files := range roundTripClusters(t) {
		c, err := model.Load(files)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		dir := filepath.Join(t.TempDir(), strings.ReplaceAll(name, "/", "_"))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		_, srcs := renderCluster(t, c, dir)
		for _, s := range srcs {
			confs = append(confs, s.Path)
		}
	}
	corpus, _ := filepath.Glob("testdata/import/*/*.conf")
	confs = append(confs, corpus...)
	for _, conf := range confs {
		t.Run(conf, func(t *testing.T) {
			stmts, err := parseFile(conf)
			if err != nil {
				t.Fatal(err)
			}
			ns := newNetns(t, interfacesOf(stmts))
			checked := withRootScripts(t, conf)
			out, err := exec.Command("ip", "netns", "exec", ns, ka, "-t", "-f", checked).CombinedOutput()
			want := keepalivedWarnings(t, conf)
			if len(want) > 0 {
				// keepalived -t exits 5 when it reports config errors it
				// corrects or ignores: the daemon runs such a config.
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != 5 {
					t.Errorf("keepalived -t -f %s: %v, want exit status 5 (config warnings)\n%s", conf, err, out)
				}
				for _, w := range want {
					if !strings.Contains(string(out), w) {
						t.Errorf("keepalived -t -f %s does not say %q:\n%s", conf, w, out)
					}
				}
				return
			}
			if err != nil {
				text, _ := os.ReadFile(conf)
				t.Errorf("keepalived -t -f %s: %v\n%s\n--- config ---\n%s", conf, err, out, text)
			}
		})
	}
}

// keepalivedWarnings reads what keepalived -t must report about a corpus
// file: the lines of the file "keepalived-t" in its case directory.
// Cases without one must pass keepalived -t cleanly.
func keepalivedWarnings(t *testing.T, conf string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(filepath.Dir(conf), "keepalived-t"))
	if errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(conf, "testdata/import/") {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

// interfacesOf lists every interface a config names.
func interfacesOf(stmts []*Stmt) []string {
	set := map[string]bool{}
	var walk func([]*Stmt, string)
	walk = func(ss []*Stmt, parent string) {
		for _, s := range ss {
			switch {
			case s.Keyword == "interface" && len(s.Args) > 0:
				set[s.Args[0]] = true
			case parent == "track_interface":
				set[s.Keyword] = true
			case parent == "virtual_ipaddress" || parent == "virtual_ipaddress_excluded":
				for i := 0; i+1 < len(s.Args); i++ {
					if s.Args[i] == "dev" {
						set[s.Args[i+1]] = true
					}
				}
			}
			walk(s.Block, s.Keyword)
		}
	}
	walk(stmts, "")
	var out []string
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

var netnsSeq int

// newNetns creates a namespace (prefix hkk) holding veth links with the
// given names, removed when the test ends.
func newNetns(t *testing.T, ifaces []string) string {
	t.Helper()
	netnsSeq++
	ns := fmt.Sprintf("hkk%d-%d", os.Getpid(), netnsSeq)
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	run("-n", ns, "link", "set", "lo", "up")
	for i, name := range ifaces {
		run("-n", ns, "link", "add", name, "type", "veth", "peer", "name", fmt.Sprintf("hkkp%d", i))
		run("-n", ns, "link", "set", name, "up")
	}
	return ns
}

var scriptUserRe = regexp.MustCompile(`(?m)^(\s*script_user) \S+.*$|^(\s*user) \S+.*$|^(\s*notify_\w+ "(?:[^"\\]|\\.)*")( \S+)$`)

// withRootScripts copies conf with every script user replaced by root and
// returns the copy's path. Script users are machine-specific (keepalived
// refuses users that do not exist here), and Debian's keepalived 2.2.7
// kills itself with SIGTERM in -t mode after switching to a non-root
// script user. Every other line is checked as rendered.
func withRootScripts(t *testing.T, conf string) string {
	t.Helper()
	data, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	out := scriptUserRe.ReplaceAllStringFunc(string(data), func(m string) string {
		sm := scriptUserRe.FindStringSubmatch(m)
		switch {
		case sm[1] != "":
			return sm[1] + " root"
		case sm[2] != "":
			return sm[2] + " root"
		}
		return sm[3]
	})
	if out == string(data) {
		return conf // unchanged: check the file in place, so relative includes resolve
	}
	path := filepath.Join(t.TempDir(), filepath.Base(conf))
	writeFile(t, path, out)
	return path
}

// TestRenderGolden pins the rendered keepalived.conf of every node of
// the import corpus clusters (go test -update rewrites them). Examples
// are covered by the round trip and keepalived -t, not by golden files,
// so editing an example does not break this package.
func TestRenderGolden(t *testing.T) {
	for name, files := range roundTripClusters(t) {
		if !strings.HasPrefix(name, "import/") {
			continue
		}
		c, err := model.Load(files)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, n := range sortedNodes(c) {
			st, err := model.Desired(c, n)
			if err != nil {
				t.Fatalf("%s: Desired(%s): %v", name, n, err)
			}
			out, err := Render(st, RenderOptions{})
			if err != nil {
				t.Fatalf("%s: Render(%s): %v", name, n, err)
			}
			file := filepath.Join("testdata/golden/render", strings.ReplaceAll(name, "/", "_")+"."+n+".conf")
			golden.Check(t, file, out)
		}
	}
}
