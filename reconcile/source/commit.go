package source

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
)

// ReadCommit reads the description at descPath (a file or directory in
// the repository, "" for its root, as GitOptions.Path) from the commit
// rev names in the local repository containing dir: a branch, tag, commit
// or any expression go-git resolves ("origin/main", "HEAD~1"). It reads
// the commit's tree by the Git source's rules, without a checkout or a
// fetch: `hakeeper diff` reviews two commits this way.
func ReadCommit(ctx context.Context, dir, rev, descPath string) (*Revision, error) {
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	hash, err := repo.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		return nil, fmt.Errorf("revision %q: %w", rev, err)
	}
	// ResolveRevision peels an annotated tag: hash is a commit's.
	commit, err := repo.CommitObject(*hash)
	if err != nil {
		return nil, fmt.Errorf("revision %q: %w", rev, err)
	}
	g := &Git{opts: GitOptions{Path: strings.Trim(path.Clean("/"+descPath), "/")}}
	files, err := g.readFiles(ctx, commit)
	if err != nil {
		return nil, fmt.Errorf("revision %q (commit %s): %w", rev, ShortID(commit.Hash.String()), err)
	}
	return &Revision{ID: commit.Hash.String(), Files: files, Time: commit.Committer.When, Summary: firstLine(commit.Message)}, nil
}
