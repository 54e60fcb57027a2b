package source

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"github.com/hakeeper/hakeeper/reconcile"
)

// budgetStorage is the clone's filesystem storage with the fetch budget
// (reconcile.MaxFetchObjectBytes, reconcile.MaxFetchBytes) applied to
// every pack written to it. go-git builds each object of a received pack
// whole in memory while indexing it, and no go-git option bounds that; a
// blob of zeros compresses to almost nothing, so neither does the size
// of the network stream. The pack is therefore scanned (object headers
// read, contents inflated to nowhere) and spooled to a file as it
// arrives, and handed to go-git's writer only once all of it is within
// the budget: a refused pack never reaches the repository.
type budgetStorage struct {
	*filesystem.Storage
	// spoolDir holds the pack while it is received.
	spoolDir string
}

const spoolPattern = "fetch-*.pack"

// removeSpools removes the spools a daemon that stopped mid-fetch left
// in dir.
func removeSpools(dir string) {
	spools, _ := filepath.Glob(filepath.Join(dir, spoolPattern))
	for _, f := range spools {
		os.Remove(f)
	}
}

// PackfileWriter is what go-git writes a fetched pack to.
func (s *budgetStorage) PackfileWriter() (io.WriteCloser, error) {
	f, err := os.CreateTemp(s.spoolDir, spoolPattern)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	w := &budgetPackWriter{spool: f, scan: pw, scanned: make(chan error, 1), next: s.Storage}
	go func() {
		err := scanPack(pr)
		// A refusal or a malformed pack ends the next Write; the rest
		// of a good pack (its checksum) is read to nowhere.
		pr.CloseWithError(err)
		w.scanned <- err
	}()
	return w, nil
}

type budgetPackWriter struct {
	spool   *os.File
	scan    *io.PipeWriter
	scanned chan error
	next    storer.PackfileWriter
	size    int64
	err     error
}

func (w *budgetPackWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	w.size += int64(len(p))
	if w.size > reconcile.MaxFetchBytes {
		w.err = fmt.Errorf("fetch refused: the pack received is larger than the %s limit for one fetch", mib(reconcile.MaxFetchBytes))
		return 0, w.err
	}
	// The scan first: a refused pack stops before it is spooled.
	if _, err := io.MultiWriter(w.scan, w.spool).Write(p); err != nil {
		w.err = err
		return 0, err
	}
	return len(p), nil
}

// Close ends the scan and, when the whole pack is within the budget,
// hands it to the repository's own pack writer, which indexes it.
func (w *budgetPackWriter) Close() error {
	w.scan.Close()
	scanErr := <-w.scanned
	defer os.Remove(w.spool.Name())
	defer w.spool.Close()
	switch {
	case w.err != nil:
		return w.err
	case w.size == 0:
		return nil // nothing fetched; go-git reports the empty pack
	case scanErr != nil:
		return scanErr
	}
	if _, err := w.spool.Seek(0, io.SeekStart); err != nil {
		return err
	}
	next, err := w.next.PackfileWriter()
	if err != nil {
		return err
	}
	_, err = io.Copy(next, w.spool)
	if cerr := next.Close(); err == nil {
		err = cerr
	}
	return err
}

// scanPack reads a pack as go-git will, without keeping any object: it
// returns an error as soon as one object (or, for a delta, the object
// it builds) is larger than MaxFetchObjectBytes, the objects together
// are larger than MaxFetchBytes, or the pack is malformed. Each object
// is inflated, not trusted by its header, since the indexer keeps what
// the stream inflates to, whatever the header says. The pack's checksum
// is left to go-git.
func scanPack(r io.Reader) error {
	s := packfile.NewScanner(r)
	_, count, err := s.Header()
	if errors.Is(err, packfile.ErrBadSignature) {
		return errors.New("malformed pack: no PACK signature")
	}
	if err != nil {
		return fmt.Errorf("malformed pack: %w", err)
	}
	var total int64
	inflated := bufio.NewReader(nil)
	for i := range count {
		h, err := s.NextObjectHeader()
		if err != nil {
			return fmt.Errorf("malformed pack: %w", err)
		}
		if !h.Type.Valid() || h.Type == 5 { // 5 is reserved
			return fmt.Errorf("malformed pack: object type %d", h.Type)
		}
		if err := withinObjectLimit(h.Type, h.Length); err != nil {
			return err
		}
		largest, err := inflateObject(s, h, inflated)
		if errors.Is(err, packfile.ErrInflatedSizeMismatch) {
			return fmt.Errorf("malformed pack: object %d does not inflate to its declared %d bytes", i, h.Length)
		}
		if err != nil {
			return fmt.Errorf("malformed pack: object %d: %w", i, err)
		}
		total += largest
		if total > reconcile.MaxFetchBytes {
			return fmt.Errorf("fetch refused: the objects fetched add up to more than the %s limit for one fetch", mib(reconcile.MaxFetchBytes))
		}
	}
	return s.Close()
}

// inflateObject reads the object whose header h was just read to its
// end, through inflated, and returns the size of the largest object it
// makes: itself or, for a delta, the object it builds.
func inflateObject(s *packfile.Scanner, h *packfile.ObjectHeader, inflated *bufio.Reader) (int64, error) {
	obj, err := s.ReadObject() // bounded by h.Length: ErrInflatedSizeMismatch past it
	if err != nil {
		return 0, err
	}
	defer obj.Close()
	counted := &countingReader{r: obj}
	inflated.Reset(counted)
	largest := h.Length
	if h.Type.IsDelta() {
		// A delta starts with the sizes of its base and its result.
		if _, err := binary.ReadUvarint(inflated); err != nil {
			return 0, err
		}
		result, err := binary.ReadUvarint(inflated)
		if err != nil {
			return 0, err
		}
		if result > math.MaxInt64 {
			return 0, errors.New("delta result size overflows")
		}
		if err := withinObjectLimit(h.Type, int64(result)); err != nil {
			return 0, err
		}
		largest = max(largest, int64(result))
	}
	if _, err := io.Copy(io.Discard, inflated); err != nil {
		return 0, err
	}
	// Reading stopped at the end of the zlib stream (its checksum
	// checked) or one byte past the declared size.
	if counted.n != h.Length {
		return 0, packfile.ErrInflatedSizeMismatch
	}
	return largest, nil
}

func withinObjectLimit(typ plumbing.ObjectType, size int64) error {
	if size <= reconcile.MaxFetchObjectBytes {
		return nil
	}
	what := "an object"
	if !typ.IsDelta() {
		what = "a " + typ.String()
	}
	return fmt.Errorf("fetch refused: %s of %s exceeds the %s limit for one object", what, mib(size), mib(reconcile.MaxFetchObjectBytes))
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// mib shows a size in MiB, rounded up so that a size just over a limit
// never reads as the limit.
func mib(n int64) string {
	return fmt.Sprintf("%d MiB", (n+(1<<20)-1)>>20)
}
