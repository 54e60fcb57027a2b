package vrrp

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMain removes the hakeeper binary Binary built (in a directory of
// its own, shared by every test of the process): t.TempDir cannot hold
// it, as it outlives each test.
func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}
