package source

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/hakeeper/hakeeper/reconcile"
)

// DefaultDebounce is how long a directory must stay quiet after a change
// before it is read: editors save through temp files and renames, and a
// half-written description must not be read.
const DefaultDebounce = 50 * time.Millisecond

// Dir is a cluster description in a local directory (or a single file),
// watched for changes: the single-host mode.
type Dir struct {
	Path     string
	Debounce time.Duration
}

// NewDir returns a directory source with the default debounce.
func NewDir(path string) *Dir { return &Dir{Path: path, Debounce: DefaultDebounce} }

func (d *Dir) String() string { return "dir:" + d.Path }

// Applied is a no-op: a directory has no history to protect.
func (d *Dir) Applied(string) {}

// Latest reads the description as it is now.
func (d *Dir) Latest(ctx context.Context) (*Revision, error) {
	files, err := reconcile.ReadFilesContext(ctx, d.Path)
	if err != nil {
		return nil, err
	}
	return &Revision{ID: contentID(files), Files: files, Time: time.Now(), Summary: d.Path}, nil
}

// Watch notifies after each burst of changes below Path, once the burst has
// been quiet for Debounce. It watches new subdirectories as they appear and
// survives the directory being deleted and recreated (a deploy tool that
// swaps directories, or `mv new cluster.d`) by also watching the parent.
func (d *Dir) Watch(ctx context.Context, notify func()) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	root := filepath.Clean(d.Path)
	parent := filepath.Dir(root)
	if err := w.Add(parent); err != nil {
		return fmt.Errorf("watch %s: %w", parent, err)
	}
	addTree := func() {
		st, err := os.Stat(root)
		if err != nil || !st.IsDir() {
			return // a single file, or gone for now: the parent watch covers it
		}
		_ = filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				_ = w.Add(p) // re-adding a watched path is harmless
			}
			return nil
		})
	}
	addTree()

	debounce := d.Debounce
	if debounce <= 0 {
		debounce = DefaultDebounce
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return errors.New("watcher closed")
			}
			if !atOrBelow(root, ev.Name) {
				continue
			}
			if ev.Has(fsnotify.Create) {
				addTree() // a new subdirectory, or the root recreated
			}
			timer.Reset(debounce)
		case err, ok := <-w.Errors:
			if !ok {
				return errors.New("watcher closed")
			}
			// An overflow loses events: read again to be safe.
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				timer.Reset(debounce)
			}
		case <-timer.C:
			addTree()
			notify()
		}
	}
}

// atOrBelow filters the parent directory's events down to the watched path.
func atOrBelow(root, name string) bool {
	name = filepath.Clean(name)
	return name == root || strings.HasPrefix(name, root+string(filepath.Separator))
}
