package keepalived

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseMessyFormatting(t *testing.T) {
	stmts, err := parseFile("testdata/parse/messy.conf")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	var walk func(prefix string, ss []*Stmt)
	walk = func(prefix string, ss []*Stmt) {
		for _, s := range ss {
			line := prefix + s.Keyword
			if len(s.Args) > 0 {
				line += " " + strings.Join(s.Args, "|")
			}
			if s.Block != nil {
				line += " {}"
			}
			got = append(got, s.Pos.String()+" "+line)
			walk(prefix+"  ", s.Block)
		}
	}
	walk("", stmts)
	want := []string{
		"testdata/parse/messy.conf:2 global_defs {}",
		"testdata/parse/messy.conf:2   router_id lb1",
		"testdata/parse/conf.d/10-script.conf:1 vrrp_script chk_nginx {}",
		"testdata/parse/conf.d/10-script.conf:1   script /bin/true",
		"testdata/parse/conf.d/10-script.conf:2   interval 2",
		"testdata/parse/conf.d/20-vs.conf:1 virtual_server 192.0.2.10|80 {}",
		"testdata/parse/conf.d/20-vs.conf:2   real_server 198.51.100.11|80 {}",
		"testdata/parse/messy.conf:4 vrrp_instance VI_1 {}",
		"testdata/parse/messy.conf:6   state MASTER",
		"testdata/parse/messy.conf:7   interface eth0",
		"testdata/parse/messy.conf:8   virtual_router_id 51",
		"testdata/parse/messy.conf:9   priority 150",
		"testdata/parse/messy.conf:10   virtual_ipaddress {}",
		"testdata/parse/messy.conf:10     192.0.2.10/24 dev|eth0|label|eth0:1",
		"testdata/parse/messy.conf:11   notify_master /usr/local/bin/notify.sh master # not a comment",
		"testdata/parse/messy.conf:12   track_interface {}",
		"testdata/parse/messy.conf:13     eth1 weight|-10",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("parse tree:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if c := stmts[3].Block == nil; c {
		t.Fatal("virtual_server has no block")
	}
	if stmts[2].Comment != "web" {
		t.Errorf("virtual_server comment = %q, want web", stmts[2].Comment)
	}
}

func TestParseContinuationAndQuotes(t *testing.T) {
	src := "vrrp_script chk {\n  script \"/bin/sh -c \\\"x\\\"\" \\\n    # trailing\n  interval 3\n}\n"
	stmts, err := newParser().parse("inline.conf", []byte(src), 0)
	if err != nil {
		t.Fatal(err)
	}
	s := stmts[0].Block[0]
	if s.Keyword != "script" || len(s.Args) != 1 || s.Args[0] != `/bin/sh -c "x"` {
		t.Errorf("script stmt = %q %q", s.Keyword, s.Args)
	}
	if iv := stmts[0].Block[1]; iv.Keyword != "interval" || iv.Pos.Line != 4 {
		t.Errorf("interval stmt = %q at line %d, want line 4", iv.Keyword, iv.Pos.Line)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		desc string
		file string
		want string
	}{
		{"closing brace without block", "extra-brace.conf", "extra-brace.conf:4: unexpected '}'"},
		{"block never closed", "unterminated.conf", `unterminated.conf:4: block "vrrp_instance" is never closed`},
		{"include of a missing file", "missing-include.conf", "missing-include.conf:5: include testdata/broken/does-not-exist.conf: file not found"},
		{"unterminated quote", "quote.conf", "quote.conf:2: unterminated quoted string"},
		{"error inside an included file names that file", "bad-include-inner.conf", "inner/a.conf:4: unexpected '}'"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := parseFile(filepath.Join("testdata/broken", tc.file))
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestParseIncludeCycle(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.conf"), "include b.conf\n")
	writeFile(t, filepath.Join(dir, "b.conf"), "include a.conf\n")
	_, err := parseFile(filepath.Join(dir, "a.conf"))
	if err == nil || !strings.Contains(err.Error(), "nested more than") {
		t.Fatalf("err = %v, want include depth error", err)
	}
}

// TestParseIncludeFanOut: files that each include the next twice would
// read 2^n files; the parser stops at maxFiles with an error naming the
// include.
func TestParseIncludeFanOut(t *testing.T) {
	dir := t.TempDir()
	const n = 12 // 4095 reads without the bound
	for i := 0; i < n; i++ {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("f%d.conf", i)), fmt.Sprintf("include f%d.conf\ninclude f%d.conf\n", i+1, i+1))
	}
	writeFile(t, filepath.Join(dir, fmt.Sprintf("f%d.conf", n)), "global_defs {\n}\n")
	_, err := parseFile(filepath.Join(dir, "f0.conf"))
	if err == nil || !strings.Contains(err.Error(), "more than 1000 files included") {
		t.Fatalf("got %v, want an error about more than 1000 included files", err)
	}
}
