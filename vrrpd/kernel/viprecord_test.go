package kernel

import (
	"encoding/json"
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

// Records of up to a page are overwritten in place: a shorter record
// after a longer one leaves only padding behind, which Load ignores;
// a record larger than a page is written whole by rename, and the next
// small one shrinks the file back.
func TestVIPFileRewrites(t *testing.T) {
	dir := t.TempDir()
	f := NewVIPFile(dir)
	some := func(n int) []model.VIPSpec {
		var out []model.VIPSpec
		for i := 0; i < n; i++ {
			out = append(out, model.VIPSpec{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 99, byte(i / 250), byte(1 + i%250)}), 24), Device: "eth0"})
		}
		return out
	}
	for _, n := range []int{3, 1, 0, 200, 2, 5, 0} {
		want := some(n)
		if err := f.Save(want); err != nil {
			t.Fatal(err)
		}
		got, err := NewVIPFile(dir).Load()
		if err != nil || len(got) != n || !slices.Equal(got, want) {
			t.Fatalf("after saving %d VIPs: loaded %d, %v", n, len(got), err)
		}
		if st, err := os.Stat(f.Path); err != nil || n < 10 && st.Size() > inplaceMax {
			t.Errorf("after saving %d VIPs the file is %d bytes, want at most a page (%v)", n, st.Size(), err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("state dir holds %v, want only %s", entries, VIPFileName)
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

// The record is written exactly as encoding/json would write it.
func TestVIPFileEncodingMatchesJSON(t *testing.T) {
	for _, tc := range []struct {
		desc string
		vips []model.VIPSpec
	}{
		{desc: "empty", vips: []model.VIPSpec{}},
		{desc: "one", vips: []model.VIPSpec{{Prefix: netip.MustParsePrefix("192.0.2.100/24"), Device: "eth0"}}},
		{desc: "labels and IPv6", vips: []model.VIPSpec{
			{Prefix: netip.MustParsePrefix("192.0.2.100/24"), Device: "eth0", Label: "eth0:web"},
			{Prefix: netip.MustParsePrefix("2001:db8::100/64"), Device: "eth1"}}},
		{desc: "characters JSON escapes", vips: []model.VIPSpec{
			{Prefix: netip.MustParsePrefix("192.0.2.1/32"), Device: `e"t\h<0>&`, Label: "é\x01\u2028"}}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			want, err := json.MarshalIndent(vipFileContent{Version: vipFileVersion, VIPs: tc.vips}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, '\n')
			if got := appendRecord(nil, tc.vips); string(got) != string(want) {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}
