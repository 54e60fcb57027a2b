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

	"golang.org/x/sys/unix"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/vrrpd"
)

// VIPFileName is the VIP record's file name in the state directory.
const VIPFileName = "vrrp-vips.json"

// VIPFile is the engine's record of the VIPs it added (vrrpd.VIPRecord),
// kept as JSON at Path. Save replaces the file atomically (temp file,
// rename), so a crash of the daemon leaves either the old record or the
// new one, never a torn one. It does not fsync: the record only has to
// outlive the process, which the page cache guarantees, not the kernel —
// after a power loss or kernel crash the VIPs are gone from the
// interfaces too, and an unreadable record is logged and ignored. Save
// runs while a new master adds its VIPs, under the engine lock; two
// fsyncs there cost ~2 ms on an idle disk and far more on a busy one,
// delaying the VIP, the gratuitous ARPs and the adverts of every group.
type VIPFile struct {
	Path string
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
	var c vipFileContent
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("VIP record %s: %w", f.Path, err)
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
	b, err := json.MarshalIndent(vipFileContent{Version: vipFileVersion, VIPs: vips}, "", "  ")
	if err != nil {
		return fmt.Errorf("VIP record: %w", err)
	}
	b = append(b, '\n')
	// Plain syscalls on a fixed temp name: os.CreateTemp and os.Rename
	// add six syscalls (random-name retry loop, poller registration,
	// a stat) to a write that sits on the new master's path. One daemon
	// owns the state directory, so the name cannot clash.
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
	if err != nil {
		unix.Unlink(tmp)
		return fmt.Errorf("VIP record %s: %w", f.Path, err)
	}
	return nil
}
