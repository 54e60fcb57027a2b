package kernel

import (
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
