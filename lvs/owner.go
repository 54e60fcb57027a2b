package lvs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/google/renameio/v2"
)

// Owned is the set of service keys hakeeper created (or adopted). Only
// these are ever changed or deleted; any other service in the kernel
// belongs to someone else (another tool, an operator, kube-proxy).
type Owned map[ServiceKey]struct{}

// Has reports whether k is owned. A nil set owns nothing.
func (o Owned) Has(k ServiceKey) bool {
	_, ok := o[k]
	return ok
}

// Keys returns the owned keys in a stable order.
func (o Owned) Keys() []ServiceKey {
	return slices.SortedFunc(maps.Keys(o), compareKeys)
}

// ownershipFile is the JSON layout of the ownership record.
type ownershipFile struct {
	Version  int      `json:"version"`
	Services []string `json:"services"`
}

const ownershipVersion = 1

// LoadOwned reads the ownership record at path. A missing file is an
// empty set: the first run owns nothing.
func LoadOwned(path string) (Owned, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Owned{}, nil
	}
	if err != nil {
		return nil, err
	}
	var f ownershipFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: not an IPVS ownership record: %v", path, err)
	}
	if f.Version != ownershipVersion {
		return nil, fmt.Errorf("%s: version: %d is not %d", path, f.Version, ownershipVersion)
	}
	owned := make(Owned, len(f.Services))
	for i, s := range f.Services {
		k, err := ParseServiceKey(s)
		if err != nil {
			return nil, fmt.Errorf("%s: services[%d]: %v", path, i, err)
		}
		owned[k] = struct{}{}
	}
	return owned, nil
}

// SaveOwned replaces the record atomically, so a crash leaves the old
// record or the new one, never half of one. The file and then its
// directory are synced: a record lost after a crash would leave services
// hakeeper created but no longer knows it owns.
func SaveOwned(path string, owned Owned) error {
	f := ownershipFile{Version: ownershipVersion, Services: []string{}}
	for _, k := range owned.Keys() {
		f.Services = append(f.Services, k.String())
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return WriteRecord(path, append(data, '\n'))
}

// WriteRecord is how hakeeper writes a record of its state directory:
// atomically (renameio writes a temporary file in the same directory,
// syncs it and renames it over the old one, so a crash leaves the old
// record or the new one) and durably (the directory is synced after the
// rename, without which a crash can still undo the rename).
func WriteRecord(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := renameio.WriteFile(path, data, 0o600, renameio.WithTempDir(dir)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
