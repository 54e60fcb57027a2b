package kernel

import (
	"bytes"
	"encoding/json"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hakeeper/hakeeper/model"
)

func TestVIPFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	f := NewVIPFile(dir)
	got, err := f.Load()
	if err != nil || len(got) != 0 {
		t.Fatalf("missing file: %v, %v; want an empty record", got, err)
	}
	want := []model.VIPSpec{
		{Prefix: netip.MustParsePrefix("192.0.2.100/24"), Device: "eth0", Label: "eth0:vip"},
		{Prefix: netip.MustParsePrefix("2001:db8::100/64"), Device: "eth1"},
	}
	if err := f.Save(want); err != nil {
		t.Fatal(err)
	}
	if got, err = NewVIPFile(dir).Load(); err != nil || !slices.Equal(got, want) {
		t.Fatalf("after Save: %v, %v; want %v", got, err, want)
	}
	if err := f.Save(nil); err != nil {
		t.Fatal(err)
	}
	if got, err = f.Load(); err != nil || len(got) != 0 {
		t.Fatalf("after saving nothing: %v, %v", got, err)
	}
	// Only the record itself is left: the temp files were renamed.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != VIPFileName {
		t.Errorf("state dir holds %v, want only %s", entries, VIPFileName)
	}
}

func TestVIPFileBadContent(t *testing.T) {
	for _, tc := range []struct {
		desc, content, wantErr string
	}{
		{desc: "not JSON", content: "vips: [", wantErr: "invalid character"},
		{desc: "future version", content: `{"version": 2, "vips": []}`, wantErr: "version 2"},
		{desc: "unknown field", content: `{"version": 1, "vip": []}`, wantErr: `unknown field "vip"`},
		{desc: "no device", content: `{"version": 1, "vips": [{"prefix": "192.0.2.1/24"}]}`, wantErr: "vips[0]"},
		{desc: "bad prefix", content: `{"version": 1, "vips": [{"prefix": "192.0.2.300/24", "device": "eth0"}]}`, wantErr: "192.0.2.300"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), VIPFileName)
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := (&VIPFile{Path: path}).Load()
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %v, want one naming %s and %q", err, path, tc.wantErr)
			}
		})
	}
}

func TestVIPFileSaveFailsInMissingDir(t *testing.T) {
	f := NewVIPFile(filepath.Join(t.TempDir(), "absent"))
	if err := f.Save(nil); err == nil {
		t.Fatal("Save into a missing directory succeeded")
	}
}

// A Save that cannot replace the record (here a directory is in its
// place) fails naming it and leaves no temporary file behind.
func TestVIPFileSaveFailsLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	f := NewVIPFile(dir)
	if err := os.MkdirAll(filepath.Join(f.Path, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(nil); err == nil || !strings.Contains(err.Error(), f.Path) {
		t.Fatalf("Save over a directory: %v, want an error naming %s", err, f.Path)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("state dir holds %v, want only the directory in the record's place", entries)
	}
}

// Save replaces the file whole: a reader that opened the old record
// still reads it intact, and the new file is exactly encoding/json's
// output, for any size of record.
func TestVIPFileSaveReplacesWhole(t *testing.T) {
	dir := t.TempDir()
	f := NewVIPFile(dir)
	some := func(n int) []model.VIPSpec {
		var out []model.VIPSpec
		for i := 0; i < n; i++ {
			out = append(out, model.VIPSpec{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 99, byte(i / 250), byte(1 + i%250)}), 24), Device: "eth0"})
		}
		return out
	}
	var prev []byte
	for _, n := range []int{3, 1, 0, 200, 2, 5, 0} {
		var old *os.File
		if prev != nil {
			var err error
			if old, err = os.Open(f.Path); err != nil {
				t.Fatal(err)
			}
		}
		want := some(n)
		if err := f.Save(want); err != nil {
			t.Fatal(err)
		}
		if old != nil {
			b, err := io.ReadAll(old)
			old.Close()
			if err != nil || !bytes.Equal(b, prev) {
				t.Errorf("saving %d VIPs changed the file an earlier reader had open: %q, want %q (%v)", n, b, prev, err)
			}
		}
		got, err := NewVIPFile(dir).Load()
		if err != nil || len(got) != n || !slices.Equal(got, want) {
			t.Fatalf("after saving %d VIPs: loaded %d, %v", n, len(got), err)
		}
		b, err := os.ReadFile(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		if st, err := os.Stat(f.Path); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("record mode %v, want 0600 (%v)", st.Mode(), err)
		}
		if enc := marshalRecord(t, want); !bytes.Equal(b, enc) {
			t.Errorf("after saving %d VIPs the file is\n%q\nwant encoding/json's\n%q", n, b, enc)
		}
		prev = b
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("state dir holds %v, want only %s", entries, VIPFileName)
	}
}

// marshalRecord is the file encoding/json writes for vips.
func marshalRecord(t *testing.T, vips []model.VIPSpec) []byte {
	t.Helper()
	if vips == nil {
		vips = []model.VIPSpec{}
	}
	b, err := json.MarshalIndent(vipFileContent{Version: vipFileVersion, VIPs: vips}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// Records written by earlier hakeepers, which overwrote the file in
// place and padded a shorter record with spaces, still load.
func TestVIPFileReadsPaddedRecord(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join("testdata", "vrrp-vips-v1-padded.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(b, []byte(" ")) {
		t.Fatalf("fixture lost its padding: %q", b)
	}
	if err := os.WriteFile(filepath.Join(dir, VIPFileName), b, 0o600); err != nil {
		t.Fatal(err)
	}
	want := []model.VIPSpec{
		{Prefix: netip.MustParsePrefix("192.0.2.101/24"), Device: "eth0"},
		{Prefix: netip.MustParsePrefix("2001:db8::100/64"), Device: "eth1"},
	}
	if got, err := NewVIPFile(dir).Load(); err != nil || !slices.Equal(got, want) {
		t.Errorf("padded record: %v, %v; want %v", got, err, want)
	}
}

func TestVIPFileEmptyAndTrailing(t *testing.T) {
	path := filepath.Join(t.TempDir(), VIPFileName)
	os.WriteFile(path, nil, 0o600)
	if got, err := (&VIPFile{Path: path}).Load(); err != nil || len(got) != 0 {
		t.Errorf("empty file: %v, %v; want an empty record", got, err)
	}
	os.WriteFile(path, []byte(`{"version": 1, "vips": []}  x`), 0o600)
	if _, err := (&VIPFile{Path: path}).Load(); err == nil || !strings.Contains(err.Error(), "after the record") {
		t.Errorf("trailing data: error %v, want one about data after the record", err)
	}
}
