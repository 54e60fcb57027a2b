// Package source delivers revisions of a cluster description to the
// reconciler: from a Git repository (go-git, polled and triggered by a
// webhook) or from a watched directory on the local host (fsnotify). A
// source only fetches and reads; deciding whether a revision is applied is
// the reconciler's business, which tells the source what it applied so
// that a Git source can refuse to go backwards.
package source

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"time"

	"github.com/hakeeper/hakeeper/model"
)

// Revision is one version of a cluster description. Its JSON form is
// the controller's last good record.
type Revision struct {
	// ID names the revision: a Git commit SHA, or for a directory
	// "sha256:" and a digest of every file's name and contents.
	ID string `json:"id"`
	// Files of the description, named as they should appear in errors
	// (for Git: the path inside the repository).
	Files []model.File `json:"files"`
	// Time is the commit time (Git) or when the directory was read.
	Time time.Time `json:"time,omitzero"`
	// Summary is a one-line description (the commit subject).
	Summary string `json:"summary,omitempty"`
}

// Source is where a node's cluster description comes from.
type Source interface {
	// Latest fetches when the source is remote and returns the newest
	// acceptable revision.
	Latest(ctx context.Context) (*Revision, error)
	// Watch calls notify whenever a new revision may be available, until
	// ctx ends. notify must not block for long.
	Watch(ctx context.Context, notify func()) error
	// Applied records the revision the reconciler applied, so later
	// revisions can be checked against it.
	Applied(id string)
	// String names the source for logs and status.
	String() string
}

// ErrNotDescendant is returned (wrapped) when the fetched commit does not
// descend from the applied one: a force-push or a rollback by rewriting
// history. It is applied only when the source allows it.
var ErrNotDescendant = errors.New("fetched commit does not descend from the applied commit (force-push?)")

// ErrUnverified is returned (wrapped) when signed-commit verification is
// on and the commit is unsigned or signed by a key outside the keyring.
var ErrUnverified = errors.New("commit signature not verified")

// RefusedError is a revision the source fetched but will not deliver
// (ErrNotDescendant, ErrUnverified): the caller can show which commit it
// refused without parsing the message.
type RefusedError struct {
	// Commit is the refused commit's full ID; Summary and Time describe it.
	Commit  string
	Summary string
	Time    time.Time
	Err     error
}

func (e *RefusedError) Error() string { return "commit " + ShortID(e.Commit) + ": " + e.Err.Error() }

func (e *RefusedError) Unwrap() error { return e.Err }

// contentID digests a set of files so that identical content always gives
// the same revision ID whatever the order of reads.
func contentID(files []model.File) string {
	h := sha256.New()
	for _, f := range files {
		h.Write([]byte(f.Name))
		h.Write([]byte{0})
		h.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(f.Data))))
		h.Write(f.Data)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}
