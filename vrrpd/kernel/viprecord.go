package kernel

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/vrrpd"
)

// VIPFileName is the VIP record's file name in the state directory.
const VIPFileName = "vrrp-vips.json"

// VIPFile is the engine's record of the VIPs it added (vrrpd.VIPRecord),
// kept as JSON at Path. A crash of the daemon leaves either the old
// record or the new one, never a torn one: a record of up to a page
// (inplaceMax, some fifty VIPs) is overwritten in place with a single
// pwrite at offset 0, padded with spaces to the file's length — the
// kernel copies one page into the page cache whole before a killed
// process dies, so the write is atomic for a process crash; a larger
// record goes to a temp file renamed over it. Rename and truncation are
// avoided on purpose: on ext4 each makes the kernel start writing the
// new data out (auto_da_alloc), ~0.2-0.5 ms here against ~5 µs in
// place, and Save runs on a new master's path between its advert and
// its VIPs.
//
// It does not fsync: the record only has to outlive the process, which
// the page cache guarantees, not the kernel — after a power loss or
// kernel crash the VIPs are gone from the interfaces too, and an
// unreadable record is logged and ignored.
type VIPFile struct {
	Path string

	// The file stays open between in-place saves (three syscalls fewer
	// on the path); size is its length as last known.
	mu   sync.Mutex
	fd   int
	open bool
	size int
}

var _ vrrpd.VIPRecord = (*VIPFile)(nil)

// NewVIPFile returns the record kept in stateDir.
func NewVIPFile(stateDir string) *VIPFile {
	return &VIPFile{Path: filepath.Join(stateDir, VIPFileName)}
}

// vipFileVersion changes when the format does.
const vipFileVersion = 1

type vipFileContent struct {
	// Version guards against reading a future format as this one.
	Version int             `json:"version"`
	VIPs    []model.VIPSpec `json:"vips"`
}

// Load returns the recorded VIPs; a missing file is an empty record.
func (f *VIPFile) Load() ([]model.VIPSpec, error) {
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("VIP record: %w", err)
	}
	// Empty: created, then the daemon died before the first write, so
	// before it added anything.
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, nil
	}
	var c vipFileContent
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("VIP record %s: %w", f.Path, err)
	}
	if len(bytes.TrimSpace(b[dec.InputOffset():])) != 0 {
		return nil, fmt.Errorf("VIP record %s: unexpected data after the record", f.Path)
	}
	if c.Version != vipFileVersion {
		return nil, fmt.Errorf("VIP record %s: version %d, this hakeeper reads version %d", f.Path, c.Version, vipFileVersion)
	}
	for i, v := range c.VIPs {
		if !v.Prefix.IsValid() || v.Device == "" {
			return nil, fmt.Errorf("VIP record %s: vips[%d]: needs a prefix and a device", f.Path, i)
		}
	}
	return c.VIPs, nil
}

// Save replaces the record with vips.
func (f *VIPFile) Save(vips []model.VIPSpec) error {
	if vips == nil {
		vips = []model.VIPSpec{}
	}
	b := appendRecord(make([]byte, 0, 64+80*len(vips)), vips)
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(b) <= inplaceMax {
		done, err := f.saveInPlace(b)
		if done || err != nil {
			return err
		}
	}
	return f.saveByRename(b)
}

// appendRecord appends the record as json.MarshalIndent with two-space
// indent writes it, plus a newline, without its reflection (~10-40 µs
// cold on a new master's path).
func appendRecord(b []byte, vips []model.VIPSpec) []byte {
	b = append(b, "{\n  \"version\": "...)
	b = strconv.AppendInt(b, vipFileVersion, 10)
	b = append(b, ",\n  \"vips\": ["...)
	for i, v := range vips {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, "\n    {\n      \"prefix\": "...)
		b = appendJSONString(b, v.Prefix.String())
		b = append(b, ",\n      \"device\": "...)
		b = appendJSONString(b, v.Device)
		if v.Label != "" {
			b = append(b, ",\n      \"label\": "...)
			b = appendJSONString(b, v.Label)
		}
		b = append(b, "\n    }"...)
	}
	if len(vips) > 0 {
		b = append(b, "\n  "...)
	}
	return append(b, "]\n}\n"...)
}

// appendJSONString quotes s as encoding/json does: printable ASCII other
// than those it escapes is copied, anything else goes through it.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// inplaceMax is the largest record written in place: one page, the unit
// the kernel copies into the page cache without checking for a fatal
// signal in between.
const inplaceMax = 4096

// saveInPlace overwrites the file with b padded by spaces (JSON ignores
// them) to the file's length. It reports false, writing nothing, when
// the file is longer than a page (left by a larger record), so the
// padded write would not fit in one.
func (f *VIPFile) saveInPlace(b []byte) (bool, error) {
	if !f.open {
		fd, err := unix.Open(f.Path, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return false, fmt.Errorf("VIP record %s: %w", f.Path, err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return false, fmt.Errorf("VIP record %s: %w", f.Path, err)
		}
		f.fd, f.open, f.size = fd, true, int(st.Size)
	}
	if f.size > inplaceMax {
		return false, nil
	}
	if pad := f.size - len(b); pad > 0 {
		b = append(b, bytes.Repeat([]byte{' '}, pad)...)
	}
	n, err := unix.Pwrite(f.fd, b, 0)
	if err == nil && n != len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		f.closeFile() // reopened by the next save
		return false, fmt.Errorf("VIP record %s: %w", f.Path, err)
	}
	f.size = max(f.size, len(b))
	return true, nil
}

func (f *VIPFile) closeFile() {
	if f.open {
		unix.Close(f.fd)
		f.open = false
	}
}

// Close closes the file kept open between saves.
func (f *VIPFile) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closeFile()
	return nil
}

// saveByRename replaces the file with b through a temp file.
func (f *VIPFile) saveByRename(b []byte) error {
	tmp := f.Path + ".tmp"
	fd, err := unix.Open(tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("VIP record %s: %w", tmp, err)
	}
	n, err := unix.Write(fd, b)
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err == nil && n != len(b) {
		err = io.ErrShortWrite
	}
	if err == nil {
		err = unix.Rename(tmp, f.Path)
	}
	// The open file, if any, is the replaced one now.
	f.closeFile()
	if err != nil {
		unix.Unlink(tmp)
		return fmt.Errorf("VIP record %s: %w", f.Path, err)
	}
	return nil
}
