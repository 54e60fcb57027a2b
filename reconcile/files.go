package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/hakeeper/hakeeper/model"
)

// Limits of one cluster description, whatever its source: a description
// is text written by people, and neither a runaway file nor a repository
// full of them may push the daemon to hundreds of megabytes.
const (
	// MaxDescriptionBytes bounds the files of a description together.
	MaxDescriptionBytes = 64 << 20
	// MaxDescriptionFiles bounds how many files a description has.
	MaxDescriptionFiles = 1000
	// MaxFetchObjectBytes bounds one object of a fetched Git history,
	// inflated (a delta also by the size of the object it builds): go-git
	// holds each object whole in memory while indexing the pack, so this
	// bounds the fetch's memory. No description file can be larger.
	MaxFetchObjectBytes = MaxDescriptionBytes
	// MaxFetchBytes bounds one Git fetch: the pack received and the
	// inflated objects in it together (also bounding the disk and the
	// time it takes), with room for a history of many descriptions.
	MaxFetchBytes = 256 << 20
)

// ReadFiles is ReadFilesContext without a deadline: for the command line.
func ReadFiles(path string) ([]model.File, error) {
	return ReadFilesContext(context.Background(), path)
}

// ReadFilesContext reads a cluster description, the one loader of every
// command and of the directory source: path is one YAML file, or a
// directory whose *.yaml and *.yml files (hidden ones skipped; not those
// of sub-directories, which commonly hold other clusters) are read in
// lexical order. File names in the result are as the user would type
// them, so errors point at real files.
//
// Only regular files are read: a FIFO, a socket or a device named
// *.yaml is refused by name, and so is a symlink in the directory that
// leads out of it. A long read ends between chunks when ctx ends; a read
// hung in the kernel (a dead network file system) is the caller's to
// give up on, as the controller does with any source deaf to its context.
func ReadFilesContext(ctx context.Context, path string) ([]model.File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	budget := int64(MaxDescriptionBytes)
	if !st.IsDir() {
		// A file named by the user is read wherever a symlink leads:
		// the user chose it. It must still be a regular file.
		f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			return nil, refuseOpen(path, os.Stat, err)
		}
		data, err := readRegular(ctx, path, f, &budget)
		if err != nil {
			return nil, err
		}
		return []model.File{{Name: path, Data: data}}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	yamls, subdirs := DescriptionEntries(entries, fs.DirEntry.Name, fs.DirEntry.IsDir)
	if len(yamls) == 0 {
		// Only now, for the hint: sub-directories holding descriptions.
		var hint []string
		for _, d := range subdirs {
			if dir := filepath.Join(path, d.Name()); holdsYAML(dir) {
				hint = append(hint, dir)
			}
		}
		if len(hint) > 0 {
			return nil, fmt.Errorf("%s: no *.yaml or *.yml files (sub-directories are not read); did you mean %s?", path, strings.Join(hint, " or "))
		}
		return nil, fmt.Errorf("%s: no *.yaml or *.yml files", path)
	}
	if len(yamls) > MaxDescriptionFiles {
		return nil, fmt.Errorf("%s: %d description files, more than the limit of %d", path, len(yamls), MaxDescriptionFiles)
	}
	root, err := os.OpenRoot(path)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	// os.ReadDir sorted the entries by name: the files are read in
	// lexical order.
	files := make([]model.File, 0, len(yamls))
	for _, e := range yamls {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		shown := filepath.Join(path, e.Name())
		data, err := readIn(ctx, root, e.Name(), shown, &budget)
		if err != nil {
			return nil, err
		}
		files = append(files, model.File{Name: shown, Data: data})
	}
	return files, nil
}

// readIn reads name inside root. os.Root refuses a symlink that leads out
// of the directory; the refusal names the file, never its content.
func readIn(ctx context.Context, root *os.Root, name, shown string, budget *int64) ([]byte, error) {
	if st, err := root.Lstat(name); err == nil && !st.Mode().IsRegular() && st.Mode()&fs.ModeSymlink == 0 {
		return nil, notRegular(shown, st.Mode())
	}
	// O_NONBLOCK: a FIFO swapped in after the check above must not block
	// the open; the fstat below refuses it.
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if st, lerr := root.Lstat(name); lerr == nil && st.Mode()&fs.ModeSymlink != 0 {
			if _, serr := root.Stat(name); serr != nil && !errors.Is(serr, fs.ErrNotExist) {
				dir := filepath.Dir(shown)
				return nil, fmt.Errorf("%s: a symlink leading out of %s; only files inside the directory are read", shown, dir)
			}
		}
		return nil, refuseOpen(shown, func(string) (fs.FileInfo, error) { return root.Stat(name) }, err)
	}
	return readRegular(ctx, shown, f, budget)
}

// refuseOpen turns a failed open into a clear error: a socket cannot be
// opened at all, and says so only as "no such device or address".
func refuseOpen(shown string, stat func(string) (fs.FileInfo, error), err error) error {
	if st, serr := stat(shown); serr == nil && !st.Mode().IsRegular() {
		return notRegular(shown, st.Mode())
	}
	return err
}

// ReadRegularFile reads a small file named on the command line (a
// secret, a keyring) as descriptions are read: only a regular file, and
// at most limit bytes. A FIFO or a device is refused by name instead of
// blocking the open or reading forever.
func ReadRegularFile(path string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, refuseOpen(path, os.Stat, err)
	}
	defer f.Close()
	if err := checkRegular(path, f); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: larger than %d KiB", path, limit>>10)
	}
	return data, nil
}

// readRegular reads an open description file, closing it, if it is a
// regular file and fits in what is left of the budget.
func readRegular(ctx context.Context, shown string, f *os.File, budget *int64) ([]byte, error) {
	defer f.Close()
	if err := checkRegular(shown, f); err != nil {
		return nil, err
	}
	return ReadWithinBudget(ctx, shown, f, budget)
}

// ReadWithinBudget reads one file of a description, whatever its source,
// if it fits in what is left of budget, and takes it from the budget.
// The reader is limited rather than a reported size trusted, which a
// device or a growing file can belie.
func ReadWithinBudget(ctx context.Context, shown string, r io.Reader, budget *int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(ctxReader{ctx, r}, *budget+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", shown, err)
	}
	if int64(len(data)) > *budget {
		return nil, fmt.Errorf("%s: the description is larger than the %d MiB limit", shown, MaxDescriptionBytes>>20)
	}
	*budget -= int64(len(data))
	return data, nil
}

// checkRegular refuses an open file that is not a regular file.
func checkRegular(shown string, f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return notRegular(shown, st.Mode())
	}
	return nil
}

func notRegular(shown string, m fs.FileMode) error {
	kind := "a special file"
	switch {
	case m.IsDir():
		kind = "a directory"
	case m&fs.ModeNamedPipe != 0:
		kind = "a named pipe"
	case m&fs.ModeSocket != 0:
		kind = "a socket"
	case m&fs.ModeCharDevice != 0:
		kind = "a character device"
	case m&fs.ModeDevice != 0:
		kind = "a block device"
	}
	return fmt.Errorf("%s: not a regular file (%s); refused", shown, kind)
}

// ctxReader ends a long read between chunks when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// holdsYAML reports whether dir directly holds a description file, for
// the hint when a parent of descriptions is given.
func holdsYAML(dir string) bool {
	entries, err := os.ReadDir(dir)
	yamls, _ := DescriptionEntries(entries, fs.DirEntry.Name, fs.DirEntry.IsDir)
	return err == nil && len(yamls) > 0
}

// DescriptionEntries applies the rules of a description directory,
// whatever the source, to its entries: hidden ones are skipped, files
// named *.yaml or *.yml are the description, and sub-directories (which
// commonly hold other clusters) are not read but returned for a hint.
func DescriptionEntries[E any](entries []E, name func(E) string, isDir func(E) bool) (yamls, subdirs []E) {
	for _, e := range entries {
		switch {
		case strings.HasPrefix(name(e), "."):
		case isDir(e):
			subdirs = append(subdirs, e)
		case isYAML(name(e)):
			yamls = append(yamls, e)
		}
	}
	return yamls, subdirs
}

// isYAML reports whether a file name is a description file's, wherever
// the description is read from.
func isYAML(name string) bool {
	ext := filepath.Ext(name)
	return ext == ".yaml" || ext == ".yml"
}
