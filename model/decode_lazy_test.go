package model

import (
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// lazyCases are descriptions whose positions the lazy Sources must
// resolve exactly as a table of every path would: every fixture alone,
// and sets of files with entries defined twice (skipped when a file is
// decoded again), defaults twice, a budget spent by aliases after a
// refused entry, and files that do not parse.
func lazyCases(t *testing.T) map[string][]File {
	cases := map[string][]File{}
	for _, dir := range []string{"testdata/valid", "testdata/invalid"} {
		paths, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if err != nil || len(paths) == 0 {
			t.Fatalf("no fixtures in %s: %v", dir, err)
		}
		for _, p := range paths {
			cases[p] = []File{readFixture(t, p)}
		}
	}
	node := func(name, addr string) string {
		return "  " + name + ":\n    address: " + addr + "\n    interface: eth0\n"
	}
	cases["entries twice"] = []File{
		{Name: "a.yaml", Data: []byte("cluster: lab\nnodes:\n" + node("lb1", "192.0.2.1") + "services:\n  web:\n    vip: 192.0.2.10\n    port: 80\n")},
		{Name: "b.yaml", Data: []byte("nodes:\n" + node("lb1", "192.0.2.3") + node("lb2", "192.0.2.2") +
			"services:\n  web:\n    vip: 192.0.2.11\n    port: 81\n    realServers: [{address: 192.0.2.20}]\n  db:\n    vip: 192.0.2.12\n    port: 5432\n    realServers: [{address: 192.0.2.21, port: 5432}]\n")},
		{Name: "c.yaml", Data: []byte("defaults:\n  scriptUser: a\nvipGroups:\n  g:\n    vrid: 7\n    vips: [192.0.2.30]\n    nodes: [lb1, lb2]\n    notify: {master: \"\", backup: [\"/bin/true\"]}\n")},
		{Name: "d.yaml", Data: []byte("defaults:\n  scriptUser: b\n  vrrp: {version: 2}\nvipGroups:\n  g: {vrid: 8}\n  h:\n    vrid: 9\n    vips: [192.0.2.31]\n    nodes: [lb2]\n")},
		{Name: "e.yaml", Data: []byte("nodes: [\n")},
	}
	// The refused check in b.yaml expands to more values than the file's
	// decode budget: decoded again, it would leave "late" unrecorded.
	var laughs strings.Builder
	laughs.WriteString("laughs:\n  l0: &l0 {")
	for i := range 40 {
		laughs.WriteString("k" + strconv.Itoa(i) + ": 1, ")
	}
	laughs.WriteString("}\n")
	for l := 1; l <= 4; l++ {
		ref := "*l" + strconv.Itoa(l-1)
		laughs.WriteString("  l" + strconv.Itoa(l) + ": &l" + strconv.Itoa(l) + " {<<: [" + strings.Repeat(ref+", ", 9) + ref + "]}\n")
	}
	cases["budget after a refused entry"] = []File{
		{Name: "a.yaml", Data: []byte("checks:\n  big: {command: x}\n")},
		{Name: "b.yaml", Data: []byte(laughs.String() + "checks:\n  big: {<<: *l4}\n  late:\n    command: y\n    interval: 1s\n")},
	}
	return cases
}

// TestLazySourcesMatchFullTable decodes each case lazily and with every
// path recorded, then asks both for every recorded path, a child of each
// and paths never written: places, written-ness, decode and validation
// errors and the clusters must all be the same.
func TestLazySourcesMatchFullTable(t *testing.T) {
	for name, files := range lazyCases(t) {
		t.Run(name, func(t *testing.T) {
			lazy, lazyErrs := Decode(files)
			full := decode(files, true)
			if lazy.Sources.files == nil && !full.ambiguous {
				t.Fatal("Decode recorded every path though no key is ambiguous")
			}
			if got, want := lazyErrs.Error(), full.errs.Error(); got != want {
				t.Errorf("decode errors differ:\nlazy %s\nfull %s", got, want)
			}
			if got, want := Validate(lazy).Error(), Validate(full.cluster).Error(); got != want {
				t.Errorf("validation errors differ:\nlazy %s\nfull %s", got, want)
			}
			want := full.cluster.Sources
			paths := []string{"", "nodes.nowhere.address", "services.nowhere", "defaults.vrrp.nowhere"}
			for p := range want.byPath {
				paths = append(paths, p, p+".nowhere", p+"[99]")
			}
			for _, p := range paths {
				if got, want := lazy.Sources.Lookup(p), want.Lookup(p); got != want {
					t.Errorf("Lookup(%q) = %v, full table says %v", p, got, want)
				}
				if got, want := lazy.Sources.written(p), want.written(p); got != want {
					t.Errorf("written(%q) = %v, full table says %v", p, got, want)
				}
			}
			a, b := *lazy, *full.cluster
			a.Sources, b.Sources = nil, nil
			if !reflect.DeepEqual(a, b) {
				t.Errorf("clusters differ:\nlazy %+v\nfull %+v", a, b)
			}
		})
	}
}

// TestLazySourcesRecordTopLevelOnly checks that decoding records only
// the top level until a position inside an entry is asked for, and then
// decodes only that entry's file again.
func TestLazySourcesRecordTopLevelOnly(t *testing.T) {
	full := readFixture(t, "testdata/valid/full.yaml")
	files := []File{full, {Name: "more.yaml", Data: []byte("services:\n  extra:\n    vip: 192.0.2.99\n    port: 8080\n")}}
	c, errs := Decode(files)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	all := decode(files, true).cluster.Sources
	if got, most := len(c.Sources.byPath), len(all.byPath)/2; got > most {
		t.Errorf("Decode recorded %d paths of %d; want at most %d (the top level)", got, len(all.byPath), most)
	}
	if got, want := c.Sources.Lookup("services.extra.port").String(), "more.yaml:4:5"; got != want {
		t.Errorf("services.extra.port at %s, want %s", got, want)
	}
	if c.Sources.tables[1] == nil || c.Sources.tables[0] != nil {
		t.Errorf("after a lookup in more.yaml, files decoded again: full.yaml %v, more.yaml %v",
			c.Sources.tables[0] != nil, c.Sources.tables[1] != nil)
	}
}

// TestLazySourcesConcurrentLookups asks for positions inside entries of
// the same file from several goroutines at once (run with -race): the
// file is decoded again once and every answer is the full table's.
func TestLazySourcesConcurrentLookups(t *testing.T) {
	files := []File{readFixture(t, "testdata/valid/full.yaml")}
	c, errs := Decode(files)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	all := decode(files, true).cluster.Sources
	var paths []string
	for p := range all.byPath {
		paths = append(paths, p)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for _, p := range paths {
				if got, want := c.Sources.Lookup(p), all.Lookup(p); got != want {
					t.Errorf("Lookup(%q) = %v, want %v", p, got, want)
				}
			}
		})
	}
	wg.Wait()
}
