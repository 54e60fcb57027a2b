package reconcile

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hakeeper/hakeeper/model"
)

const description = "cluster: c\n"

func write(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// hangBound is how long a read that should be refused at once may take
// before the test calls it hung: far beyond any scheduling delay, far
// below forever (the old reader blocked on a FIFO for good).
const hangBound = 20 * time.Second

// readBounded runs ReadFiles and fails the test if it hangs.
func readBounded(t *testing.T, path string) ([]model.File, error) {
	t.Helper()
	type result struct {
		files []model.File
		err   error
	}
	done := make(chan result, 1)
	go func() {
		f, err := ReadFiles(path)
		done <- result{f, err}
	}()
	select {
	case r := <-done:
		return r.files, r.err
	case <-time.After(hangBound):
		t.Fatalf("reading %s hung", path)
		return nil, nil
	}
}

// specials makes, for each kind of file that is not a regular one, a
// function creating it at a path.
func specials(t *testing.T) map[string]func(name string) {
	return map[string]func(string){
		"fifo": func(name string) {
			if err := syscall.Mkfifo(name, 0o644); err != nil {
				t.Fatal(err)
			}
		},
		"symlink to /dev/zero": func(name string) {
			if err := os.Symlink("/dev/zero", name); err != nil {
				t.Fatal(err)
			}
		},
		"symlink to /dev/urandom": func(name string) {
			if err := os.Symlink("/dev/urandom", name); err != nil {
				t.Fatal(err)
			}
		},
		"unix socket": func(name string) {
			l, err := net.Listen("unix", name)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
		},
	}
}

// A FIFO, a device or a socket named *.yaml is refused by name, at once,
// whether it sits in the directory or is the path given.
func TestReadFilesRefusesSpecialFiles(t *testing.T) {
	for kind, mk := range specials(t) {
		t.Run(kind+" in a directory", func(t *testing.T) {
			dir := t.TempDir()
			write(t, filepath.Join(dir, "a.yaml"), description)
			bad := filepath.Join(dir, "b.yaml")
			mk(bad)
			_, err := readBounded(t, dir)
			if err == nil || !strings.Contains(err.Error(), bad+":") {
				t.Fatalf("err = %v, want one naming %s", err, bad)
			}
			if !strings.Contains(err.Error(), "not a regular file") && !strings.Contains(err.Error(), "leading out of") {
				t.Errorf("err = %v, want it to say why", err)
			}
		})
		t.Run(kind+" given as the path", func(t *testing.T) {
			bad := filepath.Join(t.TempDir(), "cluster.yaml")
			mk(bad)
			_, err := readBounded(t, bad)
			if err == nil || !strings.Contains(err.Error(), bad+": not a regular file") {
				t.Fatalf("err = %v, want %s: not a regular file", err, bad)
			}
		})
	}
}

// A symlink leading out of the directory is refused, and nothing of the
// file it points at appears in the error.
func TestReadFilesRefusesSymlinkOutOfTheDirectory(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "shadow")
	write(t, secret, "root:$6$SECRETHASH:19000:0:99999:7:::\n")
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.yaml"), description)
	link := filepath.Join(dir, "b.yaml")
	if err := os.Symlink(secret, link); err != nil {
		t.Fatal(err)
	}
	_, err := readBounded(t, dir)
	if err == nil || !strings.Contains(err.Error(), link+": a symlink leading out of "+dir) {
		t.Fatalf("err = %v, want a refusal naming %s", err, link)
	}
	if strings.Contains(err.Error(), "SECRET") {
		t.Errorf("the error quotes the file: %v", err)
	}
	// Relative and via a symlinked sub-directory: still out.
	os.Remove(link)
	if err := os.Symlink("../"+filepath.Base(outside)+"/shadow", link); err != nil {
		t.Fatal(err)
	}
	if _, err := readBounded(t, dir); err == nil || !strings.Contains(err.Error(), "leading out of") {
		t.Errorf("relative symlink out: err = %v", err)
	}
}

// A symlink to a file inside the directory (a sub-directory of releases,
// say) is followed.
func TestReadFilesFollowsSymlinkInside(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "releases", "v2.yaml"), description)
	if err := os.Symlink("releases/v2.yaml", filepath.Join(dir, "cluster.yaml")); err != nil {
		t.Fatal(err)
	}
	files, err := readBounded(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0].Name != filepath.Join(dir, "cluster.yaml") || string(files[0].Data) != description {
		t.Errorf("files = %+v", files)
	}
}

// Only the directory's own files are read; a directory holding none but
// with sub-directories that do says which to use.
func TestReadFilesIsNotRecursive(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "lvs-nat", "cluster.yaml"), description)
	write(t, filepath.Join(dir, "pair", "cluster.yaml"), description)
	write(t, filepath.Join(dir, "empty", "README"), "")
	_, err := readBounded(t, dir)
	want := dir + ": no *.yaml or *.yml files (sub-directories are not read); did you mean " +
		filepath.Join(dir, "lvs-nat") + " or " + filepath.Join(dir, "pair") + "?"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	write(t, filepath.Join(dir, "top.yaml"), description)
	files, err := readBounded(t, dir)
	if err != nil || len(files) != 1 || files[0].Name != filepath.Join(dir, "top.yaml") {
		t.Errorf("files = %+v, err = %v; want top.yaml only", files, err)
	}
}

// The size limit is the reader's, for one file and for the description
// as a whole. Sparse files: nothing is written to disk.
func TestReadFilesBudget(t *testing.T) {
	sparse := func(name string, size int64) {
		t.Helper()
		write(t, name, "")
		if err := os.Truncate(name, size); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	sparse(filepath.Join(dir, "big.yaml"), MaxDescriptionBytes+1)
	_, err := readBounded(t, dir)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "big.yaml")+": the description is larger than the 64 MiB limit") {
		t.Errorf("one big file: err = %v", err)
	}

	dir = t.TempDir()
	sparse(filepath.Join(dir, "a.yaml"), MaxDescriptionBytes/2)
	sparse(filepath.Join(dir, "b.yaml"), MaxDescriptionBytes/2)
	sparse(filepath.Join(dir, "c.yaml"), 1)
	_, err = readBounded(t, dir)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "c.yaml")+": the description is larger") {
		t.Errorf("files together over the budget: err = %v", err)
	}
	os.Remove(filepath.Join(dir, "c.yaml"))
	if _, err := readBounded(t, dir); err != nil {
		t.Errorf("exactly the budget: %v", err)
	}
}

// ReadRegularFile reads a file of exactly the limit and refuses one byte
// more, naming the file.
func TestReadRegularFileLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(path, make([]byte, 2048), 0o600)
	if b, err := ReadRegularFile(path, 2048); err != nil || len(b) != 2048 {
		t.Fatalf("at the limit: %d bytes, %v", len(b), err)
	}
	if _, err := ReadRegularFile(path, 2047); err == nil || !strings.Contains(err.Error(), path+": larger than") {
		t.Errorf("over the limit: %v", err)
	}
}
