package source

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"github.com/hakeeper/hakeeper/model"
	"github.com/hakeeper/hakeeper/reconcile"
)

// DefaultInterval is how often a Git source polls when no webhook fires.
const DefaultInterval = 30 * time.Second

// GitOptions configure a Git source.
type GitOptions struct {
	// URL of the repository: file://, https:// or ssh:// (or scp-like
	// git@host:path), or a local path.
	URL string
	// Branch to follow (default "main"); Tag pins a tag instead.
	Branch string
	Tag    string
	// Path inside the repository holding the description ("" = root).
	Path string
	// StateDir holds the bare clone; it survives restarts so a node
	// without network still has the last fetched history.
	StateDir string
	// Interval between polls (default 30s).
	Interval time.Duration

	// Credentials for https: a token file (sent as the password, the
	// form GitHub, GitLab and Gitea accept), or a username with a
	// password file.
	TokenFile    string
	Username     string
	PasswordFile string
	// CAFile is a PEM file of CA certificates trusted for https besides
	// the system's: for a Git server with a certificate from a private
	// CA. Read at each fetch, like the secret files, so it can be rotated.
	CAFile string
	// Credentials for ssh: a private key file and a known_hosts file
	// (required: host keys are always checked).
	SSHKeyFile     string
	KnownHostsFile string

	// AllowForcePush applies a fetched commit that does not descend
	// from the applied one. Off by default: it is reported and refused.
	AllowForcePush bool
	// Keyring, when set, is an armored OpenPGP public keyring: only
	// commits signed by one of its keys are applied.
	Keyring string
}

// Git follows a branch or tag of a Git repository.
type Git struct {
	opts GitOptions

	mu      sync.Mutex
	repo    *git.Repository
	applied string
	// last is the revision Latest returned most recently: a poll that
	// finds the same commit reuses it instead of verifying the signature
	// and reading the tree again (a commit's content cannot change).
	last *Revision
}

// NewGit checks the options; nothing is fetched until Latest.
func NewGit(o GitOptions) (*Git, error) {
	if o.URL == "" {
		return nil, errors.New("git source: a repository URL is required")
	}
	if o.StateDir == "" {
		return nil, errors.New("git source: a state directory is required")
	}
	if o.Branch != "" && o.Tag != "" {
		return nil, errors.New("git source: set a branch or a tag, not both")
	}
	if o.Branch == "" && o.Tag == "" {
		o.Branch = "main"
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	o.Path = strings.Trim(path.Clean("/"+o.Path), "/")
	return &Git{opts: o}, nil
}

func (g *Git) String() string {
	ref := "branch " + g.opts.Branch
	if g.opts.Tag != "" {
		ref = "tag " + g.opts.Tag
	}
	s := "git:" + redactURL(g.opts.URL) + " " + ref
	if g.opts.Path != "" {
		s += " path " + g.opts.Path
	}
	return s
}

// Applied records the commit the reconciler applied.
func (g *Git) Applied(id string) {
	g.mu.Lock()
	g.applied = id
	g.mu.Unlock()
}

// Watch polls every Interval. A webhook makes pulls immediate by calling
// the reconciler's trigger; polling stays as the fallback.
func (g *Git) Watch(ctx context.Context, notify func()) error {
	t := time.NewTicker(g.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			notify()
		}
	}
}

// Latest fetches and returns the commit at the followed ref. It refuses a
// commit that does not descend from the applied one (unless allowed) and,
// with a keyring, an unverified commit; both errors still carry the
// offending commit's SHA.
func (g *Git) Latest(ctx context.Context) (*Revision, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	repo, err := g.open()
	if err != nil {
		return nil, err
	}
	fetchErr := g.fetch(ctx, repo)
	commit, err := g.resolve(repo)
	if err != nil {
		if fetchErr != nil {
			return nil, fmt.Errorf("fetch %s: %w", redactURL(g.opts.URL), fetchErr)
		}
		return nil, err
	}
	if fetchErr != nil {
		// Keep serving the history we have; the caller logs the error.
		return nil, fmt.Errorf("fetch %s (last fetched commit %s kept): %w", redactURL(g.opts.URL), ShortID(commit.Hash.String()), fetchErr)
	}
	if err := g.checkHistory(repo, commit); err != nil {
		return nil, err
	}
	if g.last != nil && g.last.ID == commit.Hash.String() {
		return g.last, nil
	}
	if g.opts.Keyring != "" {
		if _, err := commit.Verify(g.opts.Keyring); err != nil {
			return nil, refused(commit, fmt.Errorf("%w: %v", ErrUnverified, err))
		}
	}
	files, err := g.readFiles(ctx, commit)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", ShortID(commit.Hash.String()), err)
	}
	g.last = &Revision{
		ID:      commit.Hash.String(),
		Files:   files,
		Time:    commit.Committer.When,
		Summary: firstLine(commit.Message),
	}
	return g.last, nil
}

func (g *Git) open() (*git.Repository, error) {
	if g.repo != nil {
		return g.repo, nil
	}
	dir := filepath.Join(g.opts.StateDir, "repo.git")
	removeSpools(g.opts.StateDir)
	// The bare clone as git.PlainOpen and PlainInit would open it, behind
	// the fetch budget.
	st := &budgetStorage{
		Storage:  filesystem.NewStorage(osfs.New(dir), cache.NewObjectLRUDefault()),
		spoolDir: g.opts.StateDir,
	}
	repo, err := git.Open(st, nil)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		if err := os.MkdirAll(g.opts.StateDir, 0o700); err != nil {
			return nil, err
		}
		repo, err = git.Init(st, nil)
		if err == nil {
			_, err = repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{g.opts.URL}})
		}
	}
	if err != nil {
		return nil, fmt.Errorf("git state %s: %w", dir, err)
	}
	g.repo = repo
	return repo, nil
}

func (g *Git) fetch(ctx context.Context, repo *git.Repository) error {
	auth, err := g.auth()
	if err != nil {
		return err
	}
	caBundle, err := g.caBundle()
	if err != nil {
		return err
	}
	// Forced refspecs: a force-pushed branch must still be fetched so it
	// can be detected and reported, not silently ignored.
	specs := []config.RefSpec{"+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"}
	err = repo.FetchContext(ctx, &git.FetchOptions{
		RemoteName: "origin",
		RemoteURL:  g.opts.URL,
		RefSpecs:   specs,
		Auth:       auth,
		Tags:       git.NoTags,
		Force:      true,
		CABundle:   caBundle,
	})
	if errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil
	}
	if certErr := (x509.UnknownAuthorityError{}); errors.As(err, &certErr) {
		trusted := "the system's CAs"
		if g.opts.CAFile != "" {
			trusted += " and those in " + g.opts.CAFile
		}
		return fmt.Errorf("the server's certificate (%s, issued by %q) is not signed by a trusted CA (%s): %w",
			certErr.Cert.Subject.CommonName, certErr.Cert.Issuer.CommonName, trusted, err)
	}
	return err
}

// caBundle reads CAFile, refusing a file without a certificate, which
// would otherwise fail later as an untrusted server.
func (g *Git) caBundle() ([]byte, error) {
	if g.opts.CAFile == "" {
		return nil, nil
	}
	pem, err := reconcile.ReadRegularFile(g.opts.CAFile, maxSmallFile)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s: no PEM certificate in it", g.opts.CAFile)
	}
	return pem, nil
}

func (g *Git) auth() (transport.AuthMethod, error) {
	o := g.opts
	switch {
	case o.SSHKeyFile != "":
		keys, err := gitssh.NewPublicKeysFromFile(sshUser(o.URL), o.SSHKeyFile, "")
		if err != nil {
			return nil, fmt.Errorf("ssh key %s: %w", o.SSHKeyFile, err)
		}
		if o.KnownHostsFile == "" {
			return nil, errors.New("ssh needs a known_hosts file: host keys are always checked")
		}
		cb, err := gitssh.NewKnownHostsCallback(o.KnownHostsFile)
		if err != nil {
			return nil, fmt.Errorf("known_hosts %s: %w", o.KnownHostsFile, err)
		}
		keys.HostKeyCallback = cb
		return keys, nil
	case o.TokenFile != "":
		tok, err := readSecret(o.TokenFile)
		if err != nil {
			return nil, err
		}
		user := o.Username
		if user == "" {
			user = "hakeeper" // any non-empty name works with tokens
		}
		return &githttp.BasicAuth{Username: user, Password: tok}, nil
	case o.PasswordFile != "":
		pw, err := readSecret(o.PasswordFile)
		if err != nil {
			return nil, err
		}
		return &githttp.BasicAuth{Username: o.Username, Password: pw}, nil
	}
	return nil, nil
}

func (g *Git) resolve(repo *git.Repository) (*object.Commit, error) {
	name, what := plumbing.NewRemoteReferenceName("origin", g.opts.Branch), fmt.Sprintf("branch %q", g.opts.Branch)
	if g.opts.Tag != "" {
		name, what = plumbing.NewTagReferenceName(g.opts.Tag), fmt.Sprintf("tag %q", g.opts.Tag)
	}
	ref, err := repo.Reference(name, true)
	if err != nil {
		return nil, fmt.Errorf("%s not found in %s", what, redactURL(g.opts.URL))
	}
	hash := ref.Hash()
	// An annotated tag points at a tag object: peel it to the commit.
	if tag, err := repo.TagObject(hash); err == nil {
		return tag.Commit()
	}
	return repo.CommitObject(hash)
}

func (g *Git) checkHistory(repo *git.Repository, commit *object.Commit) error {
	if g.applied == "" || g.applied == commit.Hash.String() {
		return nil
	}
	applied, err := repo.CommitObject(plumbing.NewHash(g.applied))
	descends := false
	if err == nil {
		descends, err = applied.IsAncestor(commit)
	}
	if err == nil && descends {
		return nil
	}
	if g.opts.AllowForcePush {
		return nil
	}
	return refused(commit, fmt.Errorf("%w: applied commit %s", ErrNotDescendant, ShortID(g.applied)))
}

func refused(commit *object.Commit, err error) *RefusedError {
	return &RefusedError{Commit: commit.Hash.String(), Summary: firstLine(commit.Message), Time: commit.Committer.When, Err: err}
}

// readFiles reads the description from the commit's tree (not a work
// tree, so nothing on disk can be half-updated), by the rules of the
// directory source: the path's own *.yaml and *.yml files, not those of
// sub-directories, regular files only, within one byte budget.
func (g *Git) readFiles(ctx context.Context, commit *object.Commit) ([]model.File, error) {
	tree, err := commit.Tree()
	if err != nil {
		return nil, err
	}
	budget := int64(reconcile.MaxDescriptionBytes)
	if g.opts.Path != "" {
		// A path naming one file is allowed, like the directory source.
		if e, err := tree.FindEntry(g.opts.Path); err == nil && e.Mode != filemode.Dir {
			data, err := blobBytes(ctx, tree, *e, g.opts.Path, &budget)
			if err != nil {
				return nil, err
			}
			return []model.File{{Name: g.opts.Path, Data: data}}, nil
		}
		tree, err = tree.Tree(g.opts.Path)
		if err != nil {
			return nil, fmt.Errorf("path %q not found in the repository", g.opts.Path)
		}
	}
	// Files are named by their path in the repository.
	shown := func(name string) string { return path.Join(g.opts.Path, name) }
	entries, subtrees := reconcile.DescriptionEntries(tree.Entries, treeEntryName, isTree)
	var subdirs []string
	for _, e := range subtrees {
		if sub, err := tree.Tree(e.Name); err == nil && holdsYAML(sub) {
			subdirs = append(subdirs, shown(e.Name))
		}
	}
	if len(entries) == 0 {
		where := "the repository root"
		if g.opts.Path != "" {
			where = g.opts.Path
		}
		if len(subdirs) > 0 {
			return nil, fmt.Errorf("no *.yaml or *.yml files in %s (sub-directories are not read); did you mean --path %s?", where, strings.Join(subdirs, " or "))
		}
		return nil, fmt.Errorf("no *.yaml or *.yml files in %s", where)
	}
	if len(entries) > reconcile.MaxDescriptionFiles {
		return nil, fmt.Errorf("%d description files, more than the limit of %d", len(entries), reconcile.MaxDescriptionFiles)
	}
	files := make([]model.File, 0, len(entries))
	for _, e := range entries {
		data, err := blobBytes(ctx, tree, e, shown(e.Name), &budget)
		if err != nil {
			return nil, err
		}
		files = append(files, model.File{Name: shown(e.Name), Data: data})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	return files, nil
}

// holdsYAML reports whether a tree directly holds a description file,
// for the hint when a parent of descriptions is given.
func holdsYAML(t *object.Tree) bool {
	yamls, _ := reconcile.DescriptionEntries(t.Entries, treeEntryName, isTree)
	return len(yamls) > 0
}

func treeEntryName(e object.TreeEntry) string { return e.Name }

func isTree(e object.TreeEntry) bool { return e.Mode == filemode.Dir }

// blobBytes reads a regular file of the tree within what is left of the
// budget.
func blobBytes(ctx context.Context, tree *object.Tree, e object.TreeEntry, shown string, budget *int64) ([]byte, error) {
	if e.Mode != filemode.Regular && e.Mode != filemode.Executable {
		kind := "a " + e.Mode.String()
		switch e.Mode {
		case filemode.Symlink:
			kind = "a symlink"
		case filemode.Submodule:
			kind = "a submodule"
		}
		return nil, fmt.Errorf("%s: not a regular file (%s); refused", shown, kind)
	}
	f, err := tree.TreeEntryFile(&e)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", shown, err)
	}
	r, err := f.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return reconcile.ReadWithinBudget(ctx, shown, r, budget)
}

// maxSmallFile bounds a credential or CA file. They are read at every
// fetch as regular files only: a FIFO or a device there must not hang or
// flood the fetch, which holds the source's lock.
const maxSmallFile = 1 << 20

func readSecret(file string) (string, error) {
	b, err := reconcile.ReadRegularFile(file, maxSmallFile)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// sshUser takes the user from ssh://user@host/ or user@host:path URLs.
func sshUser(u string) string {
	s := strings.TrimPrefix(u, "ssh://")
	if i := strings.Index(s, "@"); i > 0 && !strings.Contains(s[:i], "/") {
		return s[:i]
	}
	return "git"
}

// redactURL hides credentials embedded in a URL before it is logged.
func redactURL(u string) string {
	i := strings.Index(u, "://")
	if i < 0 {
		return u
	}
	rest := u[i+3:]
	at := strings.Index(rest, "@")
	slash := strings.Index(rest, "/")
	if at >= 0 && (slash < 0 || at < slash) {
		return u[:i+3] + "***@" + rest[at+1:]
	}
	return u
}

// ShortID abbreviates a revision ID for logs and the status: a commit to
// 12 hex digits, a directory digest to "sha256:" and 12.
func ShortID(id string) string {
	n := 12
	if strings.HasPrefix(id, "sha256:") {
		n += len("sha256:")
	}
	if len(id) > n {
		return id[:n]
	}
	return id
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}
