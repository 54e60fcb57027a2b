package model

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// TestParseIntAgreesWithYAML checks the decimal fast path against yaml.v3
// on every form of !!int scalar it could take or must leave to yaml.v3.
func TestParseIntAgreesWithYAML(t *testing.T) {
	for _, text := range []string{
		"0", "7", "-7", "+7", "-0", "1024", "010", "-010", "0x1f", "0o17", "0b101", "1_000",
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

// TestDecodeParallelParseMatchesSequential decodes files with problems
// of every stage (binary data, bad YAML, duplicates across files, a
// second document) with files parsed ahead on several goroutines and
// inline on one: clusters, sources and errors must be identical.
func TestDecodeParallelParseMatchesSequential(t *testing.T) {
	files := []File{
		{Name: "a.yaml", Data: []byte("cluster: east\nnodes:\n  lb1: {address: 192.0.2.1}\nservices:\n  web: {vip: 192.0.2.10, port: 80}\n")},
		{Name: "b.yaml", Data: []byte("nodes:\n  lb1: {address: 192.0.2.9}\n  lb2: {address: 192.0.2.2, bogus: 1}\n")},
		{Name: "c.yaml", Data: []byte("nodes: [\n")},
		{Name: "d.yaml", Data: []byte("\x00\x01")},
		{Name: "e.yaml", Data: []byte("services:\n  db: {vip: 192.0.2.11, port: 5432}\n---\nx: 1\n")},
		{Name: "f.yaml", Data: []byte("cluster: west\n")},
	}
	decode := func(procs int) (*Cluster, []string) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		c, errs := Decode(files)
		var msgs []string
		for _, e := range errs {
			msgs = append(msgs, e.Error())
		}
		return c, msgs
	}
	seqCluster, seqErrs := decode(1)
	parCluster, parErrs := decode(4)
	if !reflect.DeepEqual(seqErrs, parErrs) {
		t.Errorf("errors differ:\nsequential %q\nparallel   %q", seqErrs, parErrs)
	}
	if !reflect.DeepEqual(seqCluster, parCluster) {
		t.Errorf("clusters differ:\nsequential %+v\nparallel   %+v", seqCluster, parCluster)
	}
	if len(seqErrs) < 5 {
		t.Errorf("want an error from each broken file, got %q", seqErrs)
	}
}

// TestDecodeFilesAloneMatchesInOrder decodes descriptions whose files
// meet in every way a file decoded on its own cannot see (entries,
// defaults and cluster names given twice, an entry refused with errors
// and budget-eating aliases inside, the error cap reached across files,
// sections written empty) on one goroutine and on several: clusters,
// sources (positions, refused entries) and errors must be identical.
func TestDecodeFilesAloneMatchesInOrder(t *testing.T) {
	cases := lazyCases(t)
	unknowns := func(n int) []byte {
		var b strings.Builder
		b.WriteString("nodes:\n  lb" + strconv.Itoa(n) + ":\n")
		for i := range 600 {
			b.WriteString("    unknown" + strconv.Itoa(i) + ": 1\n")
		}
		return []byte(b.String())
	}
	cases["error cap across files"] = []File{
		{Name: "a.yaml", Data: unknowns(1)},
		{Name: "b.yaml", Data: unknowns(2)},
		{Name: "c.yaml", Data: []byte("services: {web: {vip: 192.0.2.10, port: 80, bogus: 1}}\n")},
		{Name: "d.yaml", Data: []byte("nodes: [\n")},
		{Name: "e.yaml", Data: []byte("\x00")},
	}
	cases["refused entry with errors inside"] = []File{
		{Name: "a.yaml", Data: []byte("cluster: east\nservices:\n  web: {vip: 192.0.2.10, port: 80}\n")},
		{Name: "b.yaml", Data: []byte("cluster: east\nservices:\n  web: {vip: 192.0.2.11, port: x, bogus: 1}\n  db: {vip: 192.0.2.12, port: 5432}\n")},
		{Name: "c.yaml", Data: []byte("cluster: west\nservices: {}\nspread:\n")},
		{Name: "d.yaml", Data: []byte("services:\n  api: {vip: 192.0.2.13, port: 443}\nchecks: {}\n")},
		{Name: "e.yaml", Data: []byte("# nothing yet\n")},
	}
	for name, files := range cases {
		t.Run(name, func(t *testing.T) {
			decode := func(procs int) (*Cluster, string) {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
				c, errs := Decode(files)
				return c, errs.Error()
			}
			seqCluster, seqErrs := decode(1)
			parCluster, parErrs := decode(4)
			if seqErrs != parErrs {
				t.Errorf("errors differ:\nin order %s\nalone    %s", seqErrs, parErrs)
			}
			if !reflect.DeepEqual(seqCluster, parCluster) {
				t.Errorf("clusters differ:\nin order %+v\nalone    %+v", seqCluster, parCluster)
			}
			if got, want := Validate(parCluster).Error(), Validate(seqCluster).Error(); got != want {
				t.Errorf("validation differs:\nin order %s\nalone    %s", want, got)
			}
		})
	}
}

// TestCheckTextASCIIFastPath checks that skipping printable ASCII without
// decoding runes reports every problem at the place decoding each rune
// does: control characters and invalid UTF-8 after ASCII, tabs, CRs and
// multi-byte characters, and random bytes.
func TestCheckTextASCIIFastPath(t *testing.T) {
	byRune := func(data []byte) (Pos, string, bool) {
		line, col := 1, 1
		for i := 0; i < len(data); {
			r, size := utf8.DecodeRune(data[i:])
			switch {
			case r == utf8.RuneError && size == 1:
				return Pos{Line: line, Column: col}, fmt.Sprintf("byte 0x%02x is not UTF-8 text; a cluster description must be a UTF-8 YAML file", data[i]), false
			case r == '\n':
				line, col = line+1, 0
			case r < 0x20 && r != '\t' && r != '\r' || r == 0x7f:
				return Pos{Line: line, Column: col}, fmt.Sprintf("control character 0x%02x: a cluster description must be a text file", r), false
			}
			i += size
			col++
		}
		return Pos{}, "", true
	}
	inputs := []string{
		"", "nodes:\n  lb1: {}\n", "a: é\n  b\x01", "a:\tb\r\nc: \x7f", "x: ü\xff", "\n\n  \x1b[0m", "名前: 値\n値: \x00",
		"ok: \u00a0nbsp\n", "a\r\n\tb\n\xc3",
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b := make([]byte, rnd.IntN(40))
		for i := range b {
			// Mostly printable ASCII, like a description.
			if rnd.IntN(8) == 0 {
				b[i] = byte(rnd.IntN(256))
			} else {
				b[i] = byte(0x20 + rnd.IntN(0x60))
			}
		}
		inputs = append(inputs, string(b))
	}
	for _, in := range inputs {
		gotPos, gotMsg, gotOK := checkText([]byte(in))
		wantPos, wantMsg, wantOK := byRune([]byte(in))
		if gotPos != wantPos || gotMsg != wantMsg || gotOK != wantOK {
			t.Errorf("checkText(%q) = %v %q %v, rune by rune %v %q %v", in, gotPos, gotMsg, gotOK, wantPos, wantMsg, wantOK)
		}
	}
}
