package source

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

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
	if _, err := w.scan.Write(p); err != nil {
		w.err = err
		return 0, err
	}
	if _, err := w.spool.Write(p); err != nil {
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

// Pack object types (gitformat-pack(5)).
const (
	packCommit   = 1
	packTree     = 2
	packBlob     = 3
	packTag      = 4
	packOfsDelta = 6
	packRefDelta = 7
)

var packTypeNames = map[byte]string{packCommit: "commit", packTree: "tree", packBlob: "blob", packTag: "tag", packOfsDelta: "delta", packRefDelta: "delta"}

// scanPack reads a pack as go-git will, without keeping any object: it
// returns an error as soon as one object (or, for a delta, the object
// it builds) is larger than MaxFetchObjectBytes, the objects together
// are larger than MaxFetchBytes, or the pack is malformed. Each object
// is inflated, not trusted by its header, since the indexer keeps what
// the stream inflates to, whatever the header says.
func scanPack(r io.Reader) error {
	br := bufio.NewReader(r)
	var hdr [12]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return fmt.Errorf("malformed pack: %w", err)
	}
	if !bytes.Equal(hdr[:4], []byte("PACK")) {
		return errors.New("malformed pack: no PACK signature")
	}
	if v := binary.BigEndian.Uint32(hdr[4:8]); v != 2 && v != 3 {
		return fmt.Errorf("malformed pack: version %d", v)
	}
	count := binary.BigEndian.Uint32(hdr[8:12])
	var total int64
	var zr io.ReadCloser
	inflated := bufio.NewReader(nil)
	for i := uint32(0); i < count; i++ {
		typ, size, err := readObjectHeader(br)
		if err != nil {
			return err
		}
		delta := typ == packOfsDelta || typ == packRefDelta
		switch typ {
		case packOfsDelta:
			if _, err := readVarint(br, false); err != nil {
				return err
			}
		case packRefDelta:
			if _, err := br.Discard(20); err != nil {
				return fmt.Errorf("malformed pack: %w", err)
			}
		}
		if err := withinObjectLimit(typ, size); err != nil {
			return err
		}
		if zr == nil {
			zr, err = zlib.NewReader(br)
		} else {
			err = zr.(zlib.Resetter).Reset(br, nil)
		}
		if err != nil {
			return fmt.Errorf("malformed pack: object %d: %w", i, err)
		}
		counted := &countingReader{r: io.LimitReader(zr, size+1)}
		inflated.Reset(counted)
		largest := size
		if delta {
			// A delta starts with the sizes of its base and its result.
			if _, err := readVarint(inflated, true); err != nil {
				return err
			}
			result, err := readVarint(inflated, true)
			if err != nil {
				return err
			}
			if err := withinObjectLimit(typ, result); err != nil {
				return err
			}
			largest = max(largest, result)
		}
		if _, err := io.Copy(io.Discard, inflated); err != nil {
			return fmt.Errorf("malformed pack: object %d: %w", i, err)
		}
		// Reading stopped at the end of the zlib stream (its checksum
		// checked) or one byte past the declared size.
		if counted.n != size {
			return fmt.Errorf("malformed pack: object %d does not inflate to its declared %d bytes", i, size)
		}
		total += largest
		if total > reconcile.MaxFetchBytes {
			return fmt.Errorf("fetch refused: the objects fetched add up to more than the %s limit for one fetch", mib(reconcile.MaxFetchBytes))
		}
	}
	_, err := io.Copy(io.Discard, br)
	return err
}

func withinObjectLimit(typ byte, size int64) error {
	if size <= reconcile.MaxFetchObjectBytes {
		return nil
	}
	what := "an object"
	if name, ok := packTypeNames[typ]; ok && typ != packOfsDelta && typ != packRefDelta {
		what = "a " + name
	}
	return fmt.Errorf("fetch refused: %s of %s exceeds the %s limit for one object", what, mib(size), mib(reconcile.MaxFetchObjectBytes))
}

// readObjectHeader reads a pack object's type and inflated size.
func readObjectHeader(br io.ByteReader) (byte, int64, error) {
	b, err := br.ReadByte()
	if err != nil {
		return 0, 0, fmt.Errorf("malformed pack: %w", err)
	}
	typ := b >> 4 & 7
	if _, ok := packTypeNames[typ]; !ok {
		return 0, 0, fmt.Errorf("malformed pack: object type %d", typ)
	}
	size := uint64(b & 15)
	// At most 60 bits: the size fits an int64.
	for shift := uint(4); b&0x80 != 0; shift += 7 {
		if shift > 56 {
			return 0, 0, errors.New("malformed pack: object size overflows")
		}
		if b, err = br.ReadByte(); err != nil {
			return 0, 0, fmt.Errorf("malformed pack: %w", err)
		}
		size |= uint64(b&0x7f) << shift
	}
	return typ, int64(size), nil
}

// readVarint reads a base-128 number of at most 9 bytes (63 bits), least
// significant group first when littleEndian (a delta's sizes), else most
// significant first (an OFS_DELTA offset, whose value is not needed).
func readVarint(br io.ByteReader, littleEndian bool) (int64, error) {
	var v uint64
	for i := 0; ; i++ {
		if i == 9 {
			return 0, errors.New("malformed pack: number overflows")
		}
		b, err := br.ReadByte()
		if err != nil {
			return 0, fmt.Errorf("malformed pack: %w", err)
		}
		if littleEndian {
			v |= uint64(b&0x7f) << (7 * i)
		} else {
			v = v<<7 | uint64(b&0x7f)
		}
		if b&0x80 == 0 {
			return int64(v), nil
		}
	}
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
