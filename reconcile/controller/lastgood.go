package controller

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/hakeeper/hakeeper/lvs"
	"github.com/hakeeper/hakeeper/reconcile/source"
)

// LastGood keeps the last applied revision on disk, so a node restarted
// while its source is unreachable comes up with what it ran before
// instead of with nothing.
type LastGood struct {
	// Path of the record, normally <state-dir>/last-good.json.
	Path string
}

// NewLastGood returns the record kept in stateDir.
func NewLastGood(stateDir string) *LastGood {
	return &LastGood{Path: filepath.Join(stateDir, "last-good.json")}
}

type lastGoodFile struct {
	source.Revision
	Saved time.Time `json:"saved"`
}

// Save writes rev atomically: a crash leaves the old record or the new
// one, never a mix.
func (s *LastGood) Save(rev *source.Revision) error {
	b, err := json.Marshal(lastGoodFile{Revision: *rev, Saved: time.Now()})
	if err != nil {
		return err
	}
	dir := filepath.Dir(s.Path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// Durably: the next start must find this revision, not the one before it.
	return lvs.WriteRecord(s.Path, b)
}

// Load returns the recorded revision, or nil without error when there is none.
func (s *LastGood) Load() (*source.Revision, error) {
	b, err := os.ReadFile(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var f lastGoodFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", s.Path, err)
	}
	if f.ID == "" || len(f.Files) == 0 {
		return nil, fmt.Errorf("%s: no revision recorded", s.Path)
	}
	return &f.Revision, nil
}
