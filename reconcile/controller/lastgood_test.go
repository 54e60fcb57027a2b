package controller_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/reconcile/controller"
	"github.com/hakeeper/hakeeper/reconcile/source"
)

// Saving replaces the record whole, readable by root only (it holds the
// description), and leaves no temporary file behind, also when it fails.
func TestLastGoodSaveReplaces(t *testing.T) {
	dir := t.TempDir()
	lg := controller.NewLastGood(dir)
	for _, id := range []string{"one", "two"} {
		rev := &source.Revision{ID: id, Files: []model.File{{Name: "c.yaml", Data: []byte("cluster: " + id + "\n")}}}
		if err := lg.Save(rev); err != nil {
			t.Fatal(err)
		}
	}
	got, err := lg.Load()
	if err != nil || got.ID != "two" || string(got.Files[0].Data) != "cluster: two\n" {
		t.Fatalf("Load = %+v, %v", got, err)
	}
	st, err := os.Stat(lg.Path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("record mode %v (%v), want 0600", st.Mode(), err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("state directory holds %d entries, want the record only", len(entries))
	}

	// A directory where the record should be: the save fails cleanly.
	bad := controller.NewLastGood(t.TempDir())
	if err := os.Mkdir(bad.Path, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := bad.Save(&source.Revision{ID: "x", Files: []model.File{{Name: "c.yaml"}}}); err == nil {
		t.Error("saving over a directory succeeded")
	}
	if entries, _ := os.ReadDir(filepath.Dir(bad.Path)); len(entries) != 1 {
		t.Errorf("a failed save left %d entries", len(entries))
	}
}
