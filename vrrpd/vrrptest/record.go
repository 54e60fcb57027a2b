package vrrptest

import (
	"slices"
	"sync"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/vrrpd"
)

var _ vrrpd.VIPRecord = (*VIPRecord)(nil)

// VIPRecord is an in-memory record of added VIPs. It outlives the engines
// that use it, as the state directory outlives a crashed process. The
// zero value is an empty record.
type VIPRecord struct {
	mu      sync.Mutex
	vips    []model.VIPSpec
	saves   int
	saveErr error
	loadErr error
}

// Load returns the recorded VIPs or the error set by SetLoadError.
func (r *VIPRecord) Load() ([]model.VIPSpec, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.loadErr != nil {
		return nil, r.loadErr
	}
	return slices.Clone(r.vips), nil
}

// Save replaces the record unless SetSaveError made it fail.
func (r *VIPRecord) Save(vips []model.VIPSpec) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.saveErr != nil {
		return r.saveErr
	}
	r.saves++
	r.vips = slices.Clone(vips)
	return nil
}

// VIPs returns the record's content.
func (r *VIPRecord) VIPs() []model.VIPSpec {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.vips)
}

// Has reports whether vip is recorded.
func (r *VIPRecord) Has(vip model.VIPSpec) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.vips, vip)
}

// Saves returns how many Saves succeeded.
func (r *VIPRecord) Saves() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.saves
}

// SetSaveError makes every later Save fail with err (nil: succeed).
func (r *VIPRecord) SetSaveError(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.saveErr = err
}

// SetLoadError makes every later Load fail with err (nil: succeed).
func (r *VIPRecord) SetLoadError(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.loadErr = err
}
