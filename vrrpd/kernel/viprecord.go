package kernel

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/vrrpd"
)

// VIPFileName is the VIP record's file name in the state directory.
const VIPFileName = "vrrp-vips.json"

// VIPFile is the engine's record of the VIPs it added (vrrpd.VIPRecord),
// kept as JSON at Path and replaced whole by each Save, so a crash of the
// daemon leaves the old record or the new one, never a torn one.
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
	// Empty: after a power loss before the record reached the disk (the
	// VIPs went with it), or left by earlier versions, which could die
	// between creating the file and writing it, before adding anything.
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, nil
	}
	var c vipFileContent
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("VIP record %s: %w", f.Path, err)
	}
	// Earlier versions overwrote the file in place and padded a shorter
	// record with spaces; anything else after the record is an error.
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
//
// Not renameio.WriteFile, the project's atomic write: it fsyncs, and Save
// runs on a new master's path between its advert and its VIPs, holding
// the engine, where a disk flush waits behind every other writer's
// (`make bench-vrrp`: timer expiry → VIP). The record only has to
// outlive the process, which the page cache guarantees; a power loss
// takes the VIPs off the interfaces too.
func (f *VIPFile) Save(vips []model.VIPSpec) error {
	if vips == nil {
		vips = []model.VIPSpec{}
	}
	b, err := json.MarshalIndent(vipFileContent{Version: vipFileVersion, VIPs: vips}, "", "  ")
	// One temporary name, truncated on each save: the engine is the only
	// writer, and a crash between write and rename leaves no file behind
	// that the next save does not reuse.
	tmp := f.Path + ".tmp"
	if err == nil {
		err = os.WriteFile(tmp, append(b, '\n'), 0o600)
	}
	if err == nil {
		err = os.Rename(tmp, f.Path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("VIP record %s: %w", f.Path, err)
	}
	return nil
}
