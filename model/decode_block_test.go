package model

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// sameTree returns where two node trees first differ ("" if nowhere) in
// what the decoder reads: kind, style, tag, value, anchor, alias, line,
// column and children. Comments are not compared: the block parser drops
// them.
func sameTree(a, b *yaml.Node, at string) string {
	switch {
	case a == nil || b == nil:
		if a != b {
			return at + ": one tree is nil"
		}
		return ""
	case a.Kind != b.Kind || a.Style != b.Style || a.Tag != b.Tag || a.Value != b.Value ||
		a.Anchor != b.Anchor || (a.Alias == nil) != (b.Alias == nil) ||
		a.Line != b.Line || a.Column != b.Column || len(a.Content) != len(b.Content):
		return fmt.Sprintf("%s: got kind %d style %d tag %q value %q at %d:%d with %d children; yaml.v3: kind %d style %d tag %q value %q at %d:%d with %d children",
			at, a.Kind, a.Style, a.Tag, a.Value, a.Line, a.Column, len(a.Content),
			b.Kind, b.Style, b.Tag, b.Value, b.Line, b.Column, len(b.Content))
	}
	for i := range a.Content {
		if d := sameTree(a.Content[i], b.Content[i], fmt.Sprintf("%s/%d", at, i)); d != "" {
			return d
		}
	}
	return ""
}

// checkBlockParse parses text with both parsers. Where the block parser
// takes the text, yaml.v3 must parse it too, to the same tree. It
// reports whether the block parser took it.
func checkBlockParse(t *testing.T, name string, text []byte) bool {
	t.Helper()
	got, ok := parseBlockYAML(text, nil)
	if !ok {
		return false
	}
	want, extra, err := parseYAMLv3(text)
	if err != nil || extra != nil {
		t.Errorf("%s: block parser took text yaml.v3 rejects (%v) or reads as two documents:\n%s", name, err, text)
		return true
	}
	if d := sameTree(got, want, "doc"); d != "" {
		t.Errorf("%s: trees differ at %s\ntext:\n%s", name, d, text)
	}
	return true
}

func TestBlockParserMatchesYAMLv3(t *testing.T) {
	for _, tc := range []struct {
		desc, text string
		// block: the block parser takes the text (else it must leave
		// it to yaml.v3).
		block bool
	}{
		{"mapping", "a: 1\nb: two\n", true},
		{"nested mappings", "a:\n  b:\n    c: x\n  d: y\ne: z\n", true},
		{"list of scalars", "vips:\n  - 198.51.100.1/24\n  - 198.51.100.2/24\n", true},
		{"indentless list", "vips:\n- 198.51.100.1/24\n- 198.51.100.2/24\nport: 80\n", true},
		{"list of mappings", "realServers:\n    - address: 203.0.113.1\n      weight: 2\n    - address: 203.0.113.2\n", true},
		{"list in list", "a:\n  - - x\n    - y\n  - z\n", true},
		{"empty values", "a:\nb:\n  c:\nd:\n", true},
		{"empty entries", "a:\n  -\n  - x\n  -\n", true},
		{"entry opening a nested block", "a:\n  -\n    b: 1\n", true},
		{"indentless list inside a list entry", "- a:\n  - x\n  b: 1\n", true},
		{"root indented", "\n\n   a: 1\n   b:\n     - x\n", true},
		{"comments", "# head\na: 1 # line\n  # indented comment\nb:   # nothing\n  c: x#not-a-comment\n# foot\n", true},
		{"comment after entry", "a:\n  - # empty\n  - x # y\n", true},
		{"quoted scalars", "a: \"x: y # z\"\nb: 'it''s'\nc: 'q' # c\nd: \"\"\n", false},
		{"simple quotes", "a: \"x: y # z\"\nc: 'q' # c\nd: \"\"\ne: ''\n", true},
		{"escapes", "a: \"x\\ty\"\n", false},
		{"scalar tags", "a: 10s\nb: true\nc: ~\nd: null\ne: 0x1f\nf: 1.5\ng: -3\nh: 2001-01-01\ni: yes\nj: 1_000\nk: .inf\nl: 010\nm: 2001-02-03.4.5\n", true},
		{"colons in plain scalars", "url: http://192.0.2.1:8080/x\na:b: c\n", true},
		{"trailing spaces", "a: 1   \nb:   \n  c: 2 \n", true},
		{"no final newline", "a: 1\nb: 2", true},
		{"key with a space", "a b: 1\n", true},
		{"multi-line plain scalar", "a: one\n  two\n", false},
		{"scalar on the next line", "a:\n  one\n", false},
		{"bad indentation", "a:\n    b: 1\n  c: 2\n", false},
		{"flow lists", "a: [1, 2]\nb: [ x ,y z,  192.0.2.1/24 ] # c\nc: []\nd: [ ]\ne:\n  - [a]\n", true},
		{"empty flow mapping", "a: {}\nb:\n  - {} # c\n", true},
		{"flow mapping", "a: {b: 1}\n", false},
		{"flow list with IPv6", "a: [2001:db8::1]\n", false},
		{"flow list with quotes", "a: [\"x\"]\n", false},
		{"flow list with an empty element", "a: [x,,y]\n", false},
		{"flow list with a trailing comma", "a: [x, y,]\n", false},
		{"flow list over lines", "a: [x,\n  y]\n", false},
		{"nested flow list", "a: [[x]]\n", false},
		{"anchor and alias", "a: &x 1\nb: *x\n", false},
		{"merge key", "a:\n  <<: {b: 1}\n", false},
		{"tag", "a: !!str 1\n", false},
		{"block scalar", "a: |\n  x\n", false},
		{"document start", "---\na: 1\n", false},
		{"document end", "a: 1\n...\n", false},
		{"two documents", "a: 1\n---\nb: 2\n", false},
		{"tab", "a:\t1\n", false},
		{"carriage return", "a: 1\r\n", false},
		{"non-ASCII", "a: \u00e9\n", false},
		{"scalar document", "just text\n", false},
		{"comments only", "# nothing\n", false},
		{"empty", "", false},
		{"mapping value on a key line", "a: b: c\n", false},
		{"key ending in a colon value", "a: b:\n", false},
		{"question mark key", "? a\n: b\n", false},
		{"dash word", "a: -x\n", false},
		{"list then key at its column", "- a\nb: 1\n", false},
		{"long key", strings.Repeat("k", 1100) + ": 1\n", false},
		{"unclosed quote", "a: \"x\n  y\"\n", false},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if got := checkBlockParse(t, tc.desc, []byte(tc.text)); got != tc.block {
				t.Errorf("block parser took the text: %v, want %v", got, tc.block)
			}
		})
	}
}

// TestBlockParserOnFixtures compares both parsers on every YAML file of
// the repository's fixtures and examples, and on a generated description
// like the benchmarks'.
func TestBlockParserOnFixtures(t *testing.T) {
	taken, files := 0, 0
	for _, dir := range []string{"testdata", "../examples", "../render", "../schemas"} {
		err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			files++
			if checkBlockParse(t, path, data) {
				taken++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("block parser took %d of %d files", taken, files)
	if files > 20 && taken < files/3 {
		t.Errorf("block parser took only %d of %d fixture files: it should take plain block-style descriptions", taken, files)
	}
	var b strings.Builder
	b.WriteString("cluster: generated\nnodes:\n")
	for i := 1; i <= 3; i++ {
		fmt.Fprintf(&b, "    node-%d:\n        address: 192.0.2.%d\n        interface: eth0\n", i, i)
	}
	b.WriteString("services:\n")
	for i := range 200 {
		fmt.Fprintf(&b, "    svc-%05d:\n        vip: 198.51.100.%d\n        port: %d\n", i, i%250+1, 1024+i)
		if i%3 == 0 {
			b.WriteString("        check:\n            http:\n                path: /healthz\n")
		}
		b.WriteString("        realServers:\n")
		for j := 1; j <= 10; j++ {
			fmt.Fprintf(&b, "            - address: 203.0.113.%d\n", j)
		}
	}
	if !checkBlockParse(t, "generated", []byte(b.String())) {
		t.Errorf("block parser left a generated description to yaml.v3")
	}
}

// TestBlockArenaReuse parses files of different sizes one after another
// in one arena, as a decoding goroutine does: each tree must be the one
// yaml.v3 builds, whatever the arena held before.
func TestBlockArenaReuse(t *testing.T) {
	large := func(services int) []byte {
		var b strings.Builder
		b.WriteString("services:\n")
		for i := range services {
			fmt.Fprintf(&b, "  s%d:\n    vip: 198.51.100.%d\n    port: %d\n    realServers: [203.0.113.1, 203.0.113.%d]\n", i, i%250, i, i%250)
		}
		return []byte(b.String())
	}
	var arena blockArena
	for i, text := range [][]byte{large(3000), []byte("a: [x]\nb:\n  - c: {}\n"), large(100), []byte("a: -x\n"), large(5000)} {
		got, ok := parseBlockYAML(text, &arena)
		want, _, err := parseYAMLv3(text)
		if err != nil {
			t.Fatal(err)
		}
		if i == 3 {
			if ok {
				t.Fatalf("file %d: block parser took text it should leave to yaml.v3", i)
			}
			continue
		}
		if !ok {
			t.Fatalf("file %d: block parser left it to yaml.v3", i)
		}
		if d := sameTree(got, want, "doc"); d != "" {
			t.Errorf("file %d, parsed after %d others in one arena: trees differ at %s", i, i, d)
		}
	}
}

// TestResolvePlainAgreesWithYAML checks the tags resolvePlain answers
// itself against yaml.v3's resolution.
func TestResolvePlainAgreesWithYAML(t *testing.T) {
	for _, s := range []string{
		"a", "web", "eth0", "node-1", "null", "Null", "~", "true", "False", "yes", "on", "n", "y",
		"0", "7", "00", "010", "089", "1024", "123456789012345678", "1234567890123456789", "99999999999999999999",
		"-1", "+1", "-0", ".5", "1.5", "1e3", "1.2.3", "192.0.2.1", "198.51.100.1/24", "203.0.113.1:80",
		"2001-01-01", "2001-02-03.4.5", "2001-2-3 4:5:6.7.8", "0001-01-01", "1_000", "1.2_3.4", "0b1.1.1",
		"0o17", "0x1f", ".inf", "-.inf", ".nan", "..", "...", "-", "+", "10s", "500ms", "1.5s", "2001:db8::1",
		"fe80::1%eth0", "0.0.0.0", "1.", "1..", "1e3.5.6",
	} {
		want := (&yaml.Node{Kind: yaml.ScalarNode, Value: s}).ShortTag()
		if got := resolvePlain(s); got != want {
			t.Errorf("resolvePlain(%q) = %s, yaml.v3 resolves %s", s, got, want)
		}
	}
}

// FuzzBlockParser: whatever the block parser takes, yaml.v3 parses to
// the same tree.
func FuzzBlockParser(f *testing.F) {
	for _, s := range []string{
		"a: 1\nb:\n  - x\n  - y: 2\n    z:\n", "- a\n- - b\n  - c\n-\n", "a:\n- 1\nb: 'x' # c\n",
		"a: \"q\"\n  # c\nb: 1.2.3\n", "  a: b\n  c:\n    d: e\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		checkBlockParse(t, "fuzz", text)
	})
}
