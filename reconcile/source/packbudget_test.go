package source

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hakeeper/hakeeper/reconcile"
	"github.com/hakeeper/hakeeper/test/gitserver"
)

// fetchChildEnv makes the test binary a child that only runs one Latest
// on a given state directory and reports its error and peak memory: its
// VmHWM then measures that fetch alone, not whatever earlier tests left.
const fetchChildEnv = "HAKEEPER_TEST_FETCH_CHILD"

type fetchChildResult struct {
	Err    string
	HWMKiB int64
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(fetchChildEnv); spec != "" {
		os.Exit(fetchChild(spec))
	}
	os.Exit(m.Run())
}

// fetchChild runs Latest with the URL and state directory in spec
// ("url state out") and writes the result to out.
func fetchChild(spec string) int {
	f := strings.Fields(spec)
	g, err := NewGit(GitOptions{URL: f[0], StateDir: f[1]})
	if err != nil {
		return 2
	}
	var res fetchChildResult
	if _, err := g.Latest(context.Background()); err != nil {
		res.Err = err.Error()
	}
	res.HWMKiB = peakRSSKiB()
	data, _ := json.Marshal(res)
	if os.WriteFile(f[2], data, 0o600) != nil {
		return 2
	}
	return 0
}

// peakRSSKiB is the process's VmHWM, or -1.
func peakRSSKiB() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}

// zeros is an endless stream of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// commitZeros commits a blob of n zero bytes at name, streamed into git
// (never held in this process's memory), and returns the commit.
func commitZeros(t *testing.T, repo *gitserver.Repo, name string, n int64) string {
	t.Helper()
	cmd := exec.Command("git", "hash-object", "-w", "--stdin")
	cmd.Dir, cmd.Env = repo.Dir, repo.Env
	cmd.Stdin = io.LimitReader(zeros{}, n)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git hash-object: %v", err)
	}
	repo.Git("update-index", "--add", "--cacheinfo", "100644,"+strings.TrimSpace(string(out))+","+name)
	repo.Git("commit", "-q", "-m", "add "+name)
	return repo.Git("rev-parse", "HEAD")
}

// A commit carrying a huge blob (outside the description: only the fetch
// sees it) is refused while the pack is received, before go-git builds
// the blob in memory; the last fetched commit stays, and once the
// history is fixed the same clone fetches again.
func TestGitFetchBudgetRefusesHugeObject(t *testing.T) {
	repo := gitserver.New(t)
	c1 := repo.Commit("first", map[string]string{"cluster.yaml": clusterV1})
	url := repo.Daemon()
	state := t.TempDir()
	g, err := NewGit(GitOptions{URL: url, StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	g.Applied(latest(t, g).ID)

	const huge = 300 << 20
	commitZeros(t, repo, "data/zeros.bin", huge)

	out := filepath.Join(t.TempDir(), "result.json")
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), fetchChildEnv+"="+url+" "+state+" "+out)
	if b, err := child.CombinedOutput(); err != nil {
		t.Fatalf("fetch child: %v\n%s", err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res fetchChildResult
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	want := "(last fetched commit " + c1[:12] + " kept): fetch refused: a blob of 300 MiB exceeds the 64 MiB limit for one object"
	if !strings.Contains(res.Err, want) {
		t.Errorf("err = %q, want it to contain %q", res.Err, want)
	}
	// Building the blob would take the whole of it; refusing it takes
	// the fetch's buffers. The per-object limit lies between the two.
	if res.HWMKiB < 0 || res.HWMKiB<<10 >= reconcile.MaxFetchObjectBytes {
		t.Errorf("peak RSS of the fetch: %d KiB, want below the %d MiB of one object's limit", res.HWMKiB, reconcile.MaxFetchObjectBytes>>20)
	}
	t.Logf("peak RSS of the fetch: %d KiB", res.HWMKiB)
	if t.Failed() {
		return
	}

	// Nothing of the refused pack is left behind.
	spools, _ := filepath.Glob(filepath.Join(state, "fetch-*"))
	packs, _ := filepath.Glob(filepath.Join(state, "repo.git", "objects", "pack", "*"))
	if len(spools) != 0 || len(packs) != 2 {
		t.Fatalf("after the refused fetch: spools %v, packs %v (want the first fetch's pack and index)", spools, packs)
	}

	// The history is fixed (the commit dropped, a good one instead): the
	// same clone fetches it, after a restart that finds the spool of a
	// daemon stopped mid-fetch.
	repo.Git("reset", "-q", "--hard", c1)
	c3 := repo.Commit("second", map[string]string{"cluster.yaml": clusterV2})
	stale := filepath.Join(state, "fetch-1234.pack")
	if err := os.WriteFile(stale, []byte("PACK"), 0o600); err != nil {
		t.Fatal(err)
	}
	g2, _ := NewGit(GitOptions{URL: url, StateDir: state})
	g2.Applied(c1)
	if rev := latest(t, g2); rev.ID != c3 || string(rev.Files[0].Data) != clusterV2 {
		t.Fatalf("after the fix got %s, want %s", rev.ID, c3)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale spool: %v", err)
	}
}

// Objects each within the limit but together over the fetch budget are
// refused too.
func TestGitFetchBudgetRefusesHugeHistory(t *testing.T) {
	repo := gitserver.New(t)
	repo.Commit("first", map[string]string{"cluster.yaml": clusterV1})
	// Distinct blobs (a different length each) just under the object
	// limit, enough to exceed the fetch budget together.
	for i := range int64(reconcile.MaxFetchBytes/reconcile.MaxFetchObjectBytes + 1) {
		commitZeros(t, repo, "data/zeros"+strconv.FormatInt(i, 10), reconcile.MaxFetchObjectBytes-1-i)
	}
	g, err := NewGit(GitOptions{URL: "file://" + repo.Dir, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = g.Latest(context.Background())
	if err == nil || !strings.Contains(err.Error(), "fetch refused: the objects fetched add up to more than the 256 MiB limit for one fetch") {
		t.Fatalf("err = %v", err)
	}
}

// A history whose pack holds deltas (a file edited a little at each
// commit) passes the scan and is fetched whole.
func TestGitFetchBudgetAcceptsDeltas(t *testing.T) {
	repo := gitserver.New(t)
	var body strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&body, "# line %d of a long comment that stays the same\n", i)
	}
	var last string
	for i := range 5 {
		last = repo.Commit("edit "+strconv.Itoa(i), map[string]string{"cluster.yaml": clusterV1 + body.String() + "# edit " + strconv.Itoa(i) + "\n"})
	}
	state := t.TempDir()
	g, err := NewGit(GitOptions{URL: repo.Daemon(), StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	if rev := latest(t, g); rev.ID != last {
		t.Fatalf("got %s, want %s", rev.ID, last)
	}
	idx, _ := filepath.Glob(filepath.Join(state, "repo.git", "objects", "pack", "*.idx"))
	if out := repo.Git(append([]string{"verify-pack", "-v"}, idx...)...); !strings.Contains(out, "chain length = 1:") {
		t.Fatalf("the fetched pack holds no deltas, so the test proves nothing:\n%s", out)
	}
}

// Pack object types the tests build (gitformat-pack(5)).
const (
	packBlob     = 3
	packRefDelta = 7
)

// pack builds a pack of raw objects: each is a type, the size its header
// declares and the bytes deflated after the header (and after a
// REF_DELTA's base id).
type packObject struct {
	typ  byte
	size int64
	data []byte
}

func buildPack(objs ...packObject) []byte {
	var b bytes.Buffer
	b.WriteString("PACK")
	binary.Write(&b, binary.BigEndian, uint32(2))
	binary.Write(&b, binary.BigEndian, uint32(len(objs)))
	for _, o := range objs {
		size := uint64(o.size)
		c := o.typ<<4 | byte(size&15)
		size >>= 4
		for size != 0 {
			b.WriteByte(c | 0x80)
			c = byte(size & 0x7f)
			size >>= 7
		}
		b.WriteByte(c)
		if o.typ == packRefDelta {
			b.Write(make([]byte, 20))
		}
		z := zlib.NewWriter(&b)
		z.Write(o.data)
		z.Close()
	}
	b.Write(make([]byte, 20)) // checksum, not the scan's business
	return b.Bytes()
}

// deltaSizes is the start of a delta: base and result sizes.
func deltaSizes(base, result uint64) []byte {
	var b []byte
	for _, n := range []uint64{base, result} {
		b = binary.AppendUvarint(b, n)
	}
	return b
}

func TestScanPack(t *testing.T) {
	limit := int64(reconcile.MaxFetchObjectBytes)
	for _, tc := range []struct {
		name string
		pack []byte
		want string // "" = accepted
	}{
		{"header larger than the content", buildPack(
			packObject{packBlob, 5, []byte("hello")},
			packObject{packRefDelta, 3, deltaSizes(5, 5)[:2]},
		), "malformed pack: object 1 does not inflate to its declared 3 bytes"},
		{"good", buildPack(
			packObject{packBlob, 5, []byte("hello")},
			packObject{packRefDelta, 2, deltaSizes(5, 5)},
		), ""},
		{"huge blob header", buildPack(packObject{packBlob, limit + 1, nil}),
			"fetch refused: a blob of 65 MiB exceeds the 64 MiB limit for one object"},
		{"delta building a huge object", buildPack(packObject{packRefDelta, 6, deltaSizes(5, 300<<20)}),
			"fetch refused: an object of 300 MiB exceeds the 64 MiB limit for one object"},
		{"header smaller than the content", buildPack(packObject{packBlob, 3, []byte("hello")}),
			"malformed pack: object 0 does not inflate to its declared 3 bytes"},
		{"not a pack", []byte("HTTP/1.1 200 OK\r\n\r\n"), "malformed pack: no PACK signature"},
		{"truncated", buildPack(packObject{packBlob, 5, []byte("hello")})[:14], "malformed pack"},
		{"bad type", buildPack(packObject{5, 5, []byte("hello")}), "malformed pack: object type 5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := scanPack(bufio.NewReader(bytes.NewReader(tc.pack)))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// A pack whose compressed stream inflates to nothing (empty deflate
// blocks, endlessly) is refused by the bytes received.
func TestBudgetPackWriterRefusesEndlessStream(t *testing.T) {
	st := &budgetStorage{spoolDir: t.TempDir()}
	w, err := st.PackfileWriter()
	if err != nil {
		t.Fatal(err)
	}
	// One blob of zero bytes, its zlib header, then empty stored blocks.
	start := append(buildPack(packObject{packBlob, 0, nil})[:13], 0x78, 0x9c)
	if _, err := w.Write(start); err != nil {
		t.Fatal(err)
	}
	empty := bytes.Repeat([]byte{0, 0, 0, 0xff, 0xff}, 1<<18)
	var sent int64
	for err == nil && sent <= reconcile.MaxFetchBytes {
		var n int
		n, err = w.Write(empty)
		sent += int64(n)
	}
	want := "fetch refused: the pack received is larger than the 256 MiB limit for one fetch"
	if err == nil || err.Error() != want {
		t.Fatalf("after %d bytes: err = %v, want %q", sent, err, want)
	}
	if cerr := w.Close(); cerr == nil || cerr.Error() != want {
		t.Fatalf("Close: %v", cerr)
	}
	if spools, _ := filepath.Glob(filepath.Join(st.spoolDir, "*")); len(spools) != 0 {
		t.Fatalf("spool left: %v", spools)
	}
}
