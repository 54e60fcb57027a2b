package source

import (
	"context"
	"strings"
	"testing"

	"github.com/hakeeper/hakeeper/test/gitserver"
)

// ReadCommit reads a description from any revision of a local repository
// without touching its work tree: a branch, an annotated tag, HEAD~1, a
// sub-directory or one file, and says which revision it could not read.
func TestReadCommit(t *testing.T) {
	repo := gitserver.New(t)
	first := repo.Commit("first", map[string]string{"prod/cluster.yaml": "cluster: one\n", "prod/more.yml": "# more\n"})
	repo.Git("tag", "-a", "-m", "release", "v1")
	second := repo.CommitFile("second", "prod/cluster.yaml", "cluster: two\n")
	ctx := context.Background()

	for _, tt := range []struct{ rev, path, id, file, data string }{
		{"main", "prod", second, "prod/cluster.yaml", "cluster: two\n"},
		{"v1", "prod", first, "prod/cluster.yaml", "cluster: one\n"},
		{"HEAD~1", "/prod/", first, "prod/cluster.yaml", "cluster: one\n"},
		{first[:10], "prod/cluster.yaml", first, "prod/cluster.yaml", "cluster: one\n"},
	} {
		rev, err := ReadCommit(ctx, repo.Dir+"/prod", tt.rev, tt.path)
		if err != nil {
			t.Fatalf("%s %s: %v", tt.rev, tt.path, err)
		}
		if rev.ID != tt.id || rev.Files[0].Name != tt.file || string(rev.Files[0].Data) != tt.data {
			t.Errorf("%s %s: %s %s %q, want %s %s %q", tt.rev, tt.path, rev.ID, rev.Files[0].Name, rev.Files[0].Data, tt.id, tt.file, tt.data)
		}
	}
	if rev, _ := ReadCommit(ctx, repo.Dir, "main", "prod"); len(rev.Files) != 2 || rev.Summary != "second" {
		t.Errorf("directory: %+v, want both files of the commit \"second\"", rev)
	}
	for _, tt := range []struct{ rev, path, want string }{
		{"nope", "prod", `revision "nope"`},
		{"main", "staging", `revision "main" (commit ` + second[:12] + `): path "staging" not found`},
	} {
		if _, err := ReadCommit(ctx, repo.Dir, tt.rev, tt.path); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s %s: err %v, want %q", tt.rev, tt.path, err, tt.want)
		}
	}
}
