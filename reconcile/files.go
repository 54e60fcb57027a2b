package reconcile

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hakeeper/hakeeper/model"
)

// maxFileSize bounds one description file: a cluster description is text
// written by people, and a runaway file must not exhaust memory.
const maxFileSize = 64 << 20

// ReadFiles reads a cluster description: path is one YAML file, or a
// directory whose *.yaml and *.yml files (recursively, hidden entries
// skipped) are read in lexical order. File names in the result are as the
// user would type them (path joined with the relative name), so errors
// point at real files.
func ReadFiles(path string) ([]model.File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		f, err := readOne(path)
		if err != nil {
			return nil, err
		}
		return []model.File{f}, nil
	}
	var names []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != path && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() && isYAML(d.Name()) {
			names = append(names, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s: no *.yaml or *.yml files", path)
	}
	sort.Strings(names)
	files := make([]model.File, 0, len(names))
	for _, n := range names {
		f, err := readOne(n)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

func isYAML(name string) bool {
	ext := filepath.Ext(name)
	return ext == ".yaml" || ext == ".yml"
}

func readOne(name string) (model.File, error) {
	st, err := os.Stat(name)
	if err != nil {
		return model.File{}, err
	}
	if st.Size() > maxFileSize {
		return model.File{}, fmt.Errorf("%s: %d bytes is larger than the %d MiB limit", name, st.Size(), maxFileSize>>20)
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return model.File{}, err
	}
	return model.File{Name: name, Data: data}, nil
}
