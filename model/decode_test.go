package model

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func readFixture(t testing.TB, path string) File {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return File{Name: filepath.Base(path), Data: data}
}

func TestDecodeFullFixture(t *testing.T) {
	c, errs := Decode([]File{readFixture(t, "testdata/valid/full.yaml")})
	if len(errs) > 0 {
		t.Fatalf("Decode: %v", errs)
	}
	web := c.VIPGroups["web"]
	if web == nil {
		t.Fatal("vipGroups.web missing")
	}
	if web.VRID != 51 || web.Interface != "eth0" {
		t.Errorf("web vrid/interface = %d/%q, want 51/eth0", web.VRID, web.Interface)
	}
	wantVIPs := []VIP{{Address: "192.0.2.10/24"}, {Address: "192.0.2.11/24", Device: "eth1", Label: "eth1:web"}}
	if len(web.VIPs) != 2 || web.VIPs[0] != wantVIPs[0] || web.VIPs[1] != wantVIPs[1] {
		t.Errorf("web vips = %+v, want %+v", web.VIPs, wantVIPs)
	}
	// Inline VRRPSettings fields land in the embedded struct.
	if web.AdvertInterval == nil || web.AdvertInterval.D() != 100*time.Millisecond {
		t.Errorf("web advertInterval = %v, want 100ms", web.AdvertInterval)
	}
	if got := c.VIPGroups["db"].Preempt; got == nil || *got {
		t.Errorf("db preempt = %v, want explicit false", got)
	}
	if got := c.Checks["haproxy"].Command.Argv; strings.Join(got, " ") != "/usr/bin/pgrep -x haproxy" {
		t.Errorf("haproxy command argv = %q", got)
	}
	if got := c.Checks["disk"].Command.Shell; got != "test -w /var/lib/app" {
		t.Errorf("disk command shell = %q", got)
	}
	http := c.Services["http"]
	if http.RealServers[0].Weight == nil || *http.RealServers[0].Weight != 10 {
		t.Errorf("http realServers[0].weight = %v, want 10", http.RealServers[0].Weight)
	}
	if want := (StatusCodes{{200, 200}, {204, 204}, {301, 302}}); http.Check.HTTP == nil || !slices.Equal(http.Check.HTTP.Status, want) {
		t.Errorf("http check = %+v", http.Check.HTTP)
	}
	if c.Services["marked"].Check.None == nil || c.Services["http"].RealServers[1].Check.TCP == nil {
		t.Error("empty check blocks ({}) must decode as present")
	}
	if c.Nodes["lb1"].Overrides["db"].Priority == nil || *c.Nodes["lb1"].Overrides["db"].Priority != 150 {
		t.Error("nodes.lb1.overrides.db.priority not decoded")
	}

	for path, want := range map[string]string{
		"cluster":                              "full.yaml:2:1",
		"nodes.lb1":                            "full.yaml:32:3",
		"vipGroups.web.vrid":                   "full.yaml:66:5",
		"vipGroups.web.vips[0]":                "full.yaml:69:9",
		"vipGroups.web.vips[1].label":          "full.yaml:72:9",
		"vipGroups.web.advertInterval":         "full.yaml:74:5",
		"services.http.realServers[1].port":    "full.yaml:158:9",
		"services.http.check.http.status[1]":   "full.yaml:148:23",
		"services.http.check.http.status[2]":   "full.yaml:148:28",
		"vipGroups.db.priorities.lb2":          "full.yaml:95:7",
		"services.http.realServers[1].nothing": "full.yaml:157:9", // falls back to the parent
	} {
		if got := c.Sources.Lookup(path).String(); got != want {
			t.Errorf("Sources.Lookup(%q) = %s, want %s", path, got, want)
		}
	}
}

func TestDecodeAnchorsAndMergeKeys(t *testing.T) {
	c, errs := Decode([]File{readFixture(t, "testdata/valid/anchors.yaml")})
	if len(errs) > 0 {
		t.Fatalf("Decode: %v", errs)
	}
	if n := c.Nodes["lb3"]; n.Interface != "eth0" || n.Address != "192.0.2.3" {
		t.Errorf("lb3 = %+v: want interface merged from lb1, own address", n)
	}
	api := c.VIPGroups["api"]
	if api.VRID != 11 || strings.Join(api.Nodes, ",") != "lb1,lb2,lb3" || api.AdvertInterval.D() != 200*time.Millisecond {
		t.Errorf("api = %+v: want vrid 11 overriding the merged group", api)
	}
	chk := c.Services["api"].Check
	if chk.Interval.D() != 2*time.Second || chk.Timeout.D() != time.Second || chk.HTTP.Path != "/health" {
		t.Errorf("api check = %+v", chk)
	}
	if len(c.Services["api"].RealServers) != 2 {
		t.Errorf("api realServers from alias: %+v", c.Services["api"].RealServers)
	}
}

func TestDecodeMultipleFiles(t *testing.T) {
	files := []File{
		{Name: "base.yaml", Data: []byte("cluster: lab\nnodes:\n  lb1:\n    address: 192.0.2.1\n    interface: eth0\n")},
		{Name: "empty.yaml", Data: []byte("# services will go here\n")},
		{Name: "more.yaml", Data: []byte("cluster: lab\nnodes:\n  lb2:\n    address: 192.0.2.2\n    interface: eth0\nvipGroups:\n  web:\n    vrid: 1\n    vips: [192.0.2.10]\n    nodes: [lb1, lb2]\n")},
	}
	c, err := Load(files)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Name != "lab" || len(c.Nodes) != 2 || c.VIPGroups["web"] == nil {
		t.Fatalf("merged cluster = %+v", c)
	}
	if got := c.Sources.Lookup("nodes.lb1.address").String(); got != "base.yaml:4:5" {
		t.Errorf("nodes.lb1.address at %s, want base.yaml:4:5", got)
	}
	if got := c.Sources.Lookup("nodes.lb2.address").String(); got != "more.yaml:4:5" {
		t.Errorf("nodes.lb2.address at %s, want more.yaml:4:5", got)
	}
}

func TestDecodeMultipleFilesConflicts(t *testing.T) {
	node := func(name, addr string) string {
		return "  " + name + ":\n    address: " + addr + "\n    interface: eth0\n"
	}
	for _, tc := range []struct {
		desc  string
		files []File
		want  []string
	}{
		{
			desc: "node defined in two files",
			files: []File{
				{Name: "a.yaml", Data: []byte("nodes:\n" + node("lb1", "192.0.2.1"))},
				{Name: "b.yaml", Data: []byte("nodes:\n" + node("lb2", "192.0.2.2") + node("lb1", "192.0.2.3"))},
			},
			want: []string{"b.yaml:5:3: nodes.lb1: defined twice: also at a.yaml:2:3"},
		},
		{
			desc: "group, service and check defined in two files",
			files: []File{
				{Name: "a.yaml", Data: []byte("vipGroups:\n  web:\n    vrid: 1\nservices:\n  http: {}\nchecks:\n  c: {}\n")},
				{Name: "b.yaml", Data: []byte("checks:\n  c: {}\nvipGroups:\n  web:\n    vrid: 2\nservices:\n  http: {}\n")},
			},
			want: []string{
				"b.yaml:2:3: checks.c: defined twice: also at a.yaml:7:3",
				"b.yaml:4:3: vipGroups.web: defined twice: also at a.yaml:2:3",
				"b.yaml:7:3: services.http: defined twice: also at a.yaml:5:3",
			},
		},
		{
			desc: "sync group and spread set defined in two files",
			files: []File{
				{Name: "a.yaml", Data: []byte("syncGroups:\n  s: {groups: [x]}\nspread:\n  p: {groups: [x], nodes: [y]}\n")},
				{Name: "b.yaml", Data: []byte("spread:\n  p: {groups: [x], nodes: [y]}\nsyncGroups:\n  s: {groups: [x]}\n")},
			},
			want: []string{
				"b.yaml:2:3: spread.p: defined twice: also at a.yaml:4:3",
				"b.yaml:4:3: syncGroups.s: defined twice: also at a.yaml:2:3",
			},
		},
		{
			desc: "cluster names differ and defaults twice",
			files: []File{
				{Name: "a.yaml", Data: []byte("cluster: east\ndefaults:\n  scriptUser: a\n")},
				{Name: "b.yaml", Data: []byte("cluster: west\ndefaults:\n  scriptUser: b\n")},
			},
			want: []string{
				`b.yaml:1:1: cluster: cluster name "west" differs from "east" given at a.yaml:1:1`,
				"b.yaml:2:1: defaults: defaults defined twice: also at a.yaml:2:1",
			},
		},
		{
			desc:  "every file empty",
			files: []File{{Name: "a.yaml"}, {Name: "b.yaml", Data: []byte("# nothing\n")}},
			want:  []string{"a.yaml: empty file", "b.yaml: empty file"},
		},
		{
			desc: "errors in several files are all reported",
			files: []File{
				{Name: "a.yaml", Data: []byte("nodes:\n  lb1:\n    adress: 192.0.2.1\n")},
				{Name: "b.yaml", Data: []byte("vipGroups: [\n")},
			},
			want: []string{
				`a.yaml:3:5: nodes.lb1.adress: unknown field "adress" (did you mean "address"?)`,
				"b.yaml:1: invalid YAML:",
			},
		},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, errs := Decode(tc.files)
			assertErrors(t, errs, tc.want)
		})
	}
}

// assertErrors checks that every wanted substring is in some error line
// and that the list is sorted.
func assertErrors(t *testing.T, errs ErrorList, want []string) {
	t.Helper()
	if len(errs) == 0 {
		t.Fatalf("no errors; want %q", want)
	}
	got := errs.Error()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("missing error %q; got:\n%s", w, got)
		}
	}
	sorted := append(ErrorList(nil), errs...)
	sorted.Sort()
	if sorted.Error() != got {
		t.Errorf("errors not sorted:\n%s", got)
	}
}

func TestDecodeHostileInput(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	randomBytes := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		return b
	}
	printable := func(n int) []byte {
		const alphabet = "abc:-[]{}&*!|>'\"#%@` ,?\n  \n"
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return b
	}
	for _, tc := range []struct {
		desc string
		data []byte
		want string
	}{
		{"10 MB of random bytes", randomBytes(10 << 20), "g.yaml: file is 10485760 bytes; a cluster description file may be at most 4194304 bytes"},
		{"binary bytes", append([]byte("nodes:\n  lb1:\n    address: "), 0, 1, 2, 0xff), "g.yaml:3:14: control character 0x00"},
		{"invalid UTF-8", []byte("cluster: caf\xe9\n"), "g.yaml:1:13: byte 0xe9 is not UTF-8 text"},
		{"1 MB of YAML punctuation", printable(1 << 20), "g.yaml:"},
		{"deep flow nesting", bytes.Repeat([]byte("["), 100000), "g.yaml:1: invalid YAML"},
		{"deep block nesting", deepBlock(1000), "g.yaml:3:5: nodes.a.a: unknown field \"a\""},
		{"long key", []byte("nodes:\n  lb1:\n    " + strings.Repeat("x", 1000) + ": 1\n"), "g.yaml:3:5: nodes.lb1.xxxx"},
		// YAML limits implicit keys to 1024 characters.
		{"overlong key", []byte("nodes:\n  lb1:\n    " + strings.Repeat("x", 100000) + ": 1\n"), "g.yaml:3: invalid YAML: mapping values are not allowed"},
		{"huge integer", []byte("vipGroups:\n  web:\n    vrid: 99999999999999999999\n"), "g.yaml:3:11: vipGroups.web.vrid: want an integer, got number 99999999999999999999"},
		{"custom tag", []byte("cluster: !secret lab\n"), `g.yaml:1:10: cluster: want a string, got !secret "lab"`},
		{"wide mapping merged exponentially", wideLaughs(5000, 7), "document expands to too many values"},
		{"alias as key", []byte("a: &k nodes\n*k : {}\n"), "g.yaml:2:1: a mapping key must be a name, got an alias"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, errs := Decode([]File{{Name: "g.yaml", Data: tc.data}})
			if len(errs) == 0 {
				t.Fatalf("no error; want %q", tc.want)
			}
			if !strings.Contains(errs.Error(), tc.want) {
				t.Errorf("errors:\n%.2000s\nwant one containing %q", errs.Error(), tc.want)
			}
			if len(errs) > maxErrors+1 {
				t.Errorf("%d errors: the list must be capped", len(errs))
			}
		})
	}
}

// wideLaughs defines a mapping of width keys and merges it 10^levels
// times through merge keys, under defaults.check.
func wideLaughs(width, levels int) []byte {
	var b strings.Builder
	b.WriteString("laughs:\n  l0: &l0\n")
	for i := range width {
		b.WriteString("    k" + strconv.Itoa(i) + ": 1\n")
	}
	for l := 1; l <= levels; l++ {
		ref := "*l" + strconv.Itoa(l-1)
		b.WriteString("  l" + strconv.Itoa(l) + ": &l" + strconv.Itoa(l) + " {<<: [" + strings.Repeat(ref+", ", 9) + ref + "]}\n")
	}
	b.WriteString("defaults:\n  check:\n    <<: *l" + strconv.Itoa(levels) + "\n")
	return []byte(b.String())
}

// deepBlock nests mappings n levels deep under nodes.a.
func deepBlock(n int) []byte {
	var b bytes.Buffer
	b.WriteString("nodes:\n")
	for i := 1; i <= n; i++ {
		b.WriteString(strings.Repeat(" ", 2*i) + "a:\n")
	}
	return b.Bytes()
}

func TestDecodeErrorCap(t *testing.T) {
	var b strings.Builder
	b.WriteString("nodes:\n  lb1:\n")
	for i := range 3000 {
		b.WriteString("    unknown" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + "_" + strconv.Itoa(i) + ": 1\n")
	}
	_, errs := Decode([]File{{Name: "many.yaml", Data: []byte(b.String())}})
	if len(errs) != maxErrors+1 {
		t.Fatalf("%d errors, want %d plus a final note", len(errs), maxErrors)
	}
	if !strings.Contains(errs.Error(), "too many errors; stopped after 1000") {
		t.Error("missing the note that errors were cut off")
	}
}

// TestParseIntAgreesWithYAML checks that integers read as yaml.v3 reads
// them, leading zeros apart (TestDecodeLeadingZero).
func TestParseIntAgreesWithYAML(t *testing.T) {
	for _, text := range []string{
		"0", "7", "-7", "+7", "-0", "1024", "0x1f", "0o17", "0b101", "1_000",
		"9223372036854775807", "-9223372036854775808", "9223372036854775808", "18446744073709551615",
	} {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
			t.Fatal(err)
		}
		n := doc.Content[0]
		if n.ShortTag() != "!!int" {
			continue // yaml.v3 does not read it as an integer; parseInt never sees it
		}
		var want int64
		wantErr := n.Decode(&want)
		got, err := parseInt(n)
		if (err != nil) != (wantErr != nil) || err == nil && got != want {
			t.Errorf("parseInt(%q) = %d, %v; yaml.v3 decodes %d, %v", text, got, err, want, wantErr)
		}
	}
}

// TestSourcesFirstPlaceWinsWithDottedKeys covers the one way two places
// can record the same path: a map key containing a separator. The first
// place written stays, in either order.
func TestSourcesFirstPlaceWinsWithDottedKeys(t *testing.T) {
	for _, tc := range []struct {
		desc, text string
		wantLine   int
	}{
		{"field first", "services:\n  web:\n    port: 80\n  web.port:\n    port: 81\n", 3},
		{"dotted key first", "services:\n  web.port:\n    port: 81\n  web:\n    port: 80\n", 2},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			c, _ := Decode([]File{{Name: "a.yaml", Data: []byte(tc.text)}})
			if got := c.Sources.Lookup("services.web.port").Line; got != tc.wantLine {
				t.Errorf("services.web.port recorded at line %d, want %d", got, tc.wantLine)
			}
		})
	}
}

func TestSuggest(t *testing.T) {
	for _, tc := range []struct {
		desc, name string
		known      []string
		want       string
	}{
		{"transposition", "vird", []string{"vips", "vrid", "version"}, "vrid"},
		{"missing plural", "realServer", []string{"realServers", "sorryServer"}, "realServers"},
		{"case", "VIPGroups", []string{"nodes", "vipGroups"}, "vipGroups"},
		{"insertion", "adress", []string{"address", "address6"}, "address"},
		{"nothing close", "colour", []string{"address", "interface"}, ""},
		{"short names need a near miss", "ab", []string{"ac"}, ""},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if got := suggest(tc.name, tc.known); got != tc.want {
				t.Errorf("suggest(%q) = %q, want %q", tc.name, got, tc.want)
			}
		})
	}
}

// FuzzDecode checks that no input panics Decode or Validate, and that
// every decode error names the file. Seeds: testdata/fuzz/FuzzDecode and
// the fixtures.
func FuzzDecode(f *testing.F) {
	for _, dir := range []string{"testdata/valid", "testdata/invalid"} {
		paths, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, errs := Decode([]File{{Name: "fuzz.yaml", Data: data}})
		for _, e := range errs {
			if e.Pos.File != "fuzz.yaml" {
				t.Fatalf("error without the file name: %v", e)
			}
		}
		// Validate must cope with partially decoded clusters too.
		Validate(c)
	})
}

func BenchmarkDecodeFull(b *testing.B) {
	f := readFixture(b, "testdata/valid/full.yaml")
	b.SetBytes(int64(len(f.Data)))
	for b.Loop() {
		if _, errs := Load([]File{f}); errs != nil {
			b.Fatal(errs)
		}
	}
}

func BenchmarkDecodeGarbage(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	data := make([]byte, MaxFileSize)
	for i := range data {
		data[i] = "ab: -[{\n"[rng.IntN(8)]
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		Decode([]File{{Name: "g.yaml", Data: data}})
	}
}

// TestDecodeYAMLDetails pins the format's answers where YAML versions or
// yaml.v3 differ from what a person writing the description means
// (docs/format.md, "YAML details").
func TestDecodeYAMLDetails(t *testing.T) {
	const base = "nodes:\n  lb1:\n    address: 192.0.2.1\n    interface: eth0\nvipGroups:\n  web:\n    vips: [192.0.2.10/24]\n    nodes: [lb1]\n"
	for _, tc := range []struct {
		desc, yaml string
		want       string // an error line; "" for none
	}{
		// YAML 1.1's booleans are strings in YAML 1.2; yaml.v3 would
		// still turn them into booleans.
		{"yes", base + "    vrid: 1\n    preempt: yes\n", `d.yaml:10:14: vipGroups.web.preempt: want true or false, got string "yes"`},
		{"off", base + "    vrid: 1\n    unicast: off\n", `d.yaml:10:14: vipGroups.web.unicast: want true or false, got string "off"`},
		{"true", base + "    vrid: 1\n    preempt: true\n", ""},
		// A number where text is meant: refused, with the fix.
		{"interface 0", base + "    vrid: 1\n    interface: 0\n", `d.yaml:10:16: vipGroups.web.interface: want a string, got integer 0; quote it if the text is meant: "0"`},
		{"interface quoted", base + "    vrid: 1\n    interface: \"0\"\n", ""},
		// A leading zero is octal to YAML 1.1 and yaml.v3, decimal to
		// YAML 1.2: refused either way.
		{"vrid 051", base + "    vrid: 051\n", `d.yaml:9:11: vipGroups.web.vrid: integer 051 has a leading zero, which YAML 1.1 reads as octal: write 51 (or 0o51 for octal)`},
		{"vrid 09", base + "    vrid: 09\n", `d.yaml:9:11: vipGroups.web.vrid: integer 09 has a leading zero, which YAML 1.1 reads as octal: write 9`},
		{"priority -007", base + "    vrid: 1\n    priorities: {lb1: -007}\n", `d.yaml:10:23: vipGroups.web.priorities.lb1: integer -007 has a leading zero, which YAML 1.1 reads as octal: write -7 (or -0o7 for octal)`},
		{"status 0200", base + "    vrid: 1\nservices:\n  s:\n    vip: 192.0.2.10\n    port: 80\n    check: {http: {status: [0200]}}\n    realServers: [{address: 192.0.2.101}]\n",
			`d.yaml:14:29: services.s.check.http.status[0]: integer 0200 has a leading zero`},
		{"vrid 0o63", base + "    vrid: 0o63\n", ""},
		{"vrid 0", base + "    vrid: 0\n", ""}, // decoded; Validate refuses 0
		// Top-level x- keys hold values for anchors and are ignored.
		{"x- key", "x-eth: &eth eth0\n" + strings.Replace(base, "interface: eth0", "interface: *eth", 1) + "    vrid: 1\n", ""},
		{"x- key below the top level", base + "    vrid: 1\n    x-note: hi\n", `d.yaml:10:5: vipGroups.web.x-note: unknown field "x-note"`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			c, errs := Decode([]File{{Name: "d.yaml", Data: []byte(tc.yaml)}})
			if tc.want == "" {
				if len(errs) > 0 {
					t.Fatalf("errors: %v", errs)
				}
				if c.VIPGroups["web"] == nil || c.Nodes["lb1"].Interface == "" {
					t.Errorf("decoded %+v", c)
				}
				return
			}
			if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), tc.want) {
				t.Errorf("errors:\n%v\nwant one starting %s", errs, tc.want)
			}
		})
	}
	c, errs := Decode([]File{{Name: "d.yaml", Data: []byte(base + "    vrid: 0o63\n")}})
	if len(errs) > 0 || c.VIPGroups["web"].VRID != 51 {
		t.Errorf("vrid: 0o63 decoded as %d (%v), want 51", c.VIPGroups["web"].VRID, errs)
	}
}
