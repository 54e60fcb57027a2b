package keepalived

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/hakeeper/hakeeper/model"
)

// fuzzName is the file name the fuzzed text is parsed as. It lives in a
// one-file file system in memory: includes of it recurse, includes of
// anything else find nothing, and nothing is read from disk.
const fuzzName = "/fuzz/keepalived.conf"

func memParser(data []byte) *parser {
	return &parser{
		read: func(path string) ([]byte, error) {
			if path == fuzzName {
				return data, nil
			}
			return nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
		},
		glob: func(pattern string) ([]string, error) {
			ok, err := filepath.Match(pattern, fuzzName)
			if err != nil || !ok {
				return nil, err
			}
			return []string{fuzzName}, nil
		},
	}
}

// addSeeds adds every keepalived.conf of the test data: the import
// corpus, the parser's files and the broken ones.
func addSeeds(f *testing.F) {
	var files []string
	for _, pattern := range []string{"testdata/import/*/*.conf", "testdata/import/*/*/*.conf", "testdata/parse/*.conf", "testdata/parse/*/*.conf", "testdata/broken/*.conf", "testdata/broken/*/*.conf", "testdata/golden/render/*.conf"} {
		m, _ := filepath.Glob(pattern)
		files = append(files, m...)
	}
	if len(files) == 0 {
		f.Fatal("no seed files")
	}
	sort.Strings(files)
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("include keepalived.conf\ninclude keepalived.conf\n"))
}

// FuzzParse: the parser never panics, and every statement it returns
// has a place (a keyword may be empty: "" is one).
func FuzzParse(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		stmts, err := memParser(data).file(fuzzName, 0, model.Pos{})
		if err != nil {
			return
		}
		var walk func([]*Stmt)
		walk = func(ss []*Stmt) {
			for _, s := range ss {
				if s.Pos.File == "" || s.Pos.Line < 1 {
					t.Fatalf("statement %+v has no place", s)
				}
				walk(s.Block)
			}
		}
		walk(stmts)
	})
}

// FuzzImport: importing any text never panics; an import that succeeds
// marshals to a description model.Load accepts or to an error, and every
// node of an accepted description renders back to keepalived.conf.
func FuzzImport(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		parse := func(path string) ([]*Stmt, error) { return memParser(data).file(path, 0, model.Pos{}) }
		opts := Options{Addresses: map[string][]string{"lb": {"192.0.2.1"}}}
		res, err := importWith([]Source{{Node: "lb", Path: fuzzName}}, opts, parse)
		if err != nil {
			return
		}
		out, err := Marshal(res)
		if err != nil {
			return
		}
		c, err := model.Load([]model.File{{Name: "imported.yaml", Data: out}})
		if err != nil {
			t.Fatalf("Marshal wrote a description Load refuses: %v\n%s", err, out)
		}
		st, err := model.Desired(c, "lb")
		if err != nil {
			t.Fatalf("Desired of an accepted description: %v\n%s", err, out)
		}
		if _, err := Render(st, RenderOptions{}); err != nil {
			t.Fatalf("Render of an imported node: %v\n%s", err, out)
		}
	})
}
