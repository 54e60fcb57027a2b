package source

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// watchDir starts d.Watch and returns a channel receiving one value per
// notification.
func watchDir(t *testing.T, d *Dir) <-chan struct{} {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan struct{}, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := d.Watch(ctx, func() { ch <- struct{}{} }); err != nil {
			t.Errorf("Watch: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	time.Sleep(50 * time.Millisecond) // let the watches settle
	return ch
}

func waitNotify(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("no notification after %s", what)
	}
}

func noNotify(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
		t.Fatalf("unexpected extra notification after %s", what)
	case <-time.After(300 * time.Millisecond):
	}
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readLatest(t *testing.T, d *Dir) *Revision {
	t.Helper()
	rev, err := d.Latest(context.Background())
	if err != nil {
		t.Fatalf("Latest: %v", err)
	}
	return rev
}

func TestDirRenameAndReplace(t *testing.T) {
	root := filepath.Join(t.TempDir(), "cluster.d")
	writeFile(t, filepath.Join(root, "cluster.yaml"), clusterV1)
	d := NewDir(root)
	first := readLatest(t, d)
	ch := watchDir(t, d)

	// An editor's save: write a temp file, rename it over the original.
	tmp := filepath.Join(root, ".cluster.yaml.swp")
	writeFile(t, tmp, clusterV2)
	if err := os.Rename(tmp, filepath.Join(root, "cluster.yaml")); err != nil {
		t.Fatal(err)
	}
	waitNotify(t, ch, "rename over the file")
	noNotify(t, ch, "one save") // the burst is debounced into one
	rev := readLatest(t, d)
	if rev.ID == first.ID || string(rev.Files[0].Data) != clusterV2 {
		t.Fatalf("revision not updated: %s %q", rev.ID, rev.Files[0].Data)
	}
	if again := readLatest(t, d); again.ID != rev.ID {
		t.Fatal("the same content must give the same revision ID")
	}
}

func TestDirPartialWritesAreDebounced(t *testing.T) {
	root := t.TempDir()
	name := filepath.Join(root, "cluster.yaml")
	writeFile(t, name, clusterV1)
	d := &Dir{Path: root, Debounce: 200 * time.Millisecond}
	ch := watchDir(t, d)

	f, err := os.OpenFile(name, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	half := len(clusterV2) / 2
	f.WriteString(clusterV2[:half])
	time.Sleep(50 * time.Millisecond) // well inside the debounce
	f.WriteString(clusterV2[half:])
	f.Close()
	waitNotify(t, ch, "a write in two parts")
	noNotify(t, ch, "a write in two parts")
	if rev := readLatest(t, d); string(rev.Files[0].Data) != clusterV2 {
		t.Fatalf("read %q, want the complete file", rev.Files[0].Data)
	}
}

func TestDirNewSubdirectoryAndDeletes(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "nodes.yaml"), clusterV1)
	d := NewDir(root)
	ch := watchDir(t, d)

	if err := os.Mkdir(filepath.Join(root, "services"), 0o755); err != nil {
		t.Fatal(err)
	}
	waitNotify(t, ch, "mkdir")
	// The new subdirectory is watched: a file written into it is seen.
	writeFile(t, filepath.Join(root, "services", "web.yaml"), "services: {}\n")
	waitNotify(t, ch, "a file in a new subdirectory")
	if rev := readLatest(t, d); len(rev.Files) != 2 {
		t.Fatalf("files = %d, want 2", len(rev.Files))
	}
	if err := os.Remove(filepath.Join(root, "services", "web.yaml")); err != nil {
		t.Fatal(err)
	}
	waitNotify(t, ch, "delete")
	if rev := readLatest(t, d); len(rev.Files) != 1 {
		t.Fatalf("files = %d after delete, want 1", len(rev.Files))
	}
}

func TestDirSurvivesReplacement(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "cluster.d")
	writeFile(t, filepath.Join(root, "cluster.yaml"), clusterV1)
	d := NewDir(root)
	ch := watchDir(t, d)

	// A deploy tool swaps in a whole new directory.
	next := filepath.Join(parent, "cluster.d.new")
	writeFile(t, filepath.Join(next, "cluster.yaml"), clusterV2)
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(next, root); err != nil {
		t.Fatal(err)
	}
	waitNotify(t, ch, "directory replaced")
	if rev := readLatest(t, d); string(rev.Files[0].Data) != clusterV2 {
		t.Fatalf("read %q after replacement", rev.Files[0].Data)
	}
	// And edits inside the new directory are still seen.
	for len(ch) > 0 {
		<-ch
	}
	writeFile(t, filepath.Join(root, "cluster.yaml"), clusterV1)
	waitNotify(t, ch, "an edit inside the replaced directory")
}

func TestDirIgnoresSiblings(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "cluster.d")
	writeFile(t, filepath.Join(root, "cluster.yaml"), clusterV1)
	ch := watchDir(t, NewDir(root))
	writeFile(t, filepath.Join(parent, "unrelated.yaml"), "x: 1\n")
	noNotify(t, ch, "a write beside the watched directory")
}

// BenchmarkDirPickup measures from a file save to the notification, with
// the default debounce included, and reports the latency beyond it.
func BenchmarkDirPickup(b *testing.B) {
	root := b.TempDir()
	name := filepath.Join(root, "cluster.yaml")
	os.WriteFile(name, []byte(clusterV1), 0o644)
	d := NewDir(root)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var seen atomic.Int64
	ch := make(chan time.Time, 1)
	go d.Watch(ctx, func() { seen.Add(1); ch <- time.Now() })
	time.Sleep(50 * time.Millisecond)
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		os.WriteFile(name, []byte(clusterV1+"# "+start.String()+"\n"), 0o644)
		end := <-ch
		if _, err := d.Latest(ctx); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		_ = end
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms/pickup")
	b.ReportMetric(float64((total-time.Duration(b.N)*d.Debounce).Microseconds())/float64(b.N)/1000, "ms-after-debounce/pickup")
}
