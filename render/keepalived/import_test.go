package keepalived

import (
	"bufio"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// importDir imports every *.conf at the top of a testdata/import case
// directory, with node addresses from its optional "addresses" file.
func importDir(t *testing.T, dir string) (*Result, error) {
	t.Helper()
	confs, err := filepath.Glob(filepath.Join(dir, "*.conf"))
	if err != nil || len(confs) == 0 {
		t.Fatalf("no *.conf in %s", dir)
	}
	var srcs []Source
	for _, c := range confs {
		srcs = append(srcs, Source{Path: c})
	}
	opts := Options{Cluster: filepath.Base(dir), Addresses: map[string][]string{}}
	if f, err := os.Open(filepath.Join(dir, "addresses")); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), "="); ok {
				opts.Addresses[k] = append(opts.Addresses[k], v)
			}
		}
		f.Close()
	}
	return Import(srcs, opts)
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the output (go test -update rewrites it):\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

func warningsText(ws []Warning) []byte {
	var b strings.Builder
	for _, w := range ws {
		b.WriteString(w.String())
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

func TestImportCorpus(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/import/*")
	if len(dirs) == 0 {
		t.Fatal("empty corpus")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			res, err := importDir(t, dir)
			if err != nil {
				t.Fatal(err)
			}
			out, err := Marshal(res)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join("testdata/golden", filepath.Base(dir)+".yaml"), out)
			checkGolden(t, filepath.Join("testdata/golden", filepath.Base(dir)+".warnings"), warningsText(res.Warnings))
		})
	}
}
