package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"sync"

	"golang.org/x/time/rate"

	"github.com/astroingest/astroingest/bucket"
)

// ErrPullMismatch is the error (errors.Is) of an object whose bytes in the
// bucket do not match the size or sha256 its entry records, twice.
var ErrPullMismatch = errors.New("does not match its recorded sha256 and size")

// ObjectError is the failure of one object of a pull, or of an entry's
// listing when Key is empty; it names both.
type ObjectError struct {
	Entry string
	Key   string
	Err   error
}

func (e *ObjectError) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("entry %s: %v", e.Entry, e.Err)
	}
	return fmt.Sprintf("%s (entry %s): %v", e.Key, e.Entry, e.Err)
}

func (e *ObjectError) Unwrap() error { return e.Err }

// pullRow is what pull needs of one object: its key and what it must hash to.
type pullRow struct {
	entry  string
	key    string
	size   int64
	sha256 [sha256.Size]byte
}

// copyChunk is the unit of every read: from the bucket, from disk, and of
// the rate limit's burst.
const copyChunk = 256 << 10

// pullTransfer is the part of a pull shared by every object's goroutine: the
// tree, the tuning, the rate limit and the counters. Safe for concurrent use.
type pullTransfer struct {
	b        bucket.Reader
	dir      *localDir
	partSize int64
	inFlight int           // ranged GETs per large object
	lim      *rate.Limiter // nil: unlimited
	prog     *progress
	bufs     sync.Pool // *[]byte of copyChunk: thousands of small objects allocate none
}

func (t *pullTransfer) buf() *[]byte {
	if b, ok := t.bufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, copyChunk)
	return &b
}

// rangedFrom is the size from which an object is fetched in parallel
// ranged GETs: below two parts, one GET is as fast and simpler.
func (t *pullTransfer) rangedFrom() int64 { return 2 * t.partSize }

// fetch brings row's object to a temporary file beside name, verified,
// for the caller to commit. A mismatch is fetched once more, fresh, before
// it fails: a bad read on the way is not a bad object.
func (t *pullTransfer) fetch(ctx context.Context, name string, row pullRow) (*stagedFile, error) {
	var err error
	for range 2 {
		var s *stagedFile
		if s, err = t.fetchOnce(ctx, name, row); err == nil || !errors.Is(err, ErrPullMismatch) || ctx.Err() != nil {
			return s, err
		}
	}
	return nil, err
}

// fetchOnce writes the object to a temporary name beside name, hashing it
// as it comes. On any failure the temporary file is removed.
func (t *pullTransfer) fetchOnce(ctx context.Context, name string, row pullRow) (_ *stagedFile, err error) {
	s := &stagedFile{dir: t.dir, name: name}
	if s.f, s.tmp, err = t.dir.createTemp(name); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.discard()
		}
	}()
	h := sha256.New()
	if row.size >= t.rangedFrom() {
		err = t.ranged(ctx, s.f, row, h)
	} else {
		err = t.whole(ctx, s.f, row, h)
	}
	if err != nil {
		return nil, err
	}
	if got := h.Sum(nil); [sha256.Size]byte(got) != row.sha256 {
		return nil, fmt.Errorf("%w: got sha256 %s, want %s", ErrPullMismatch, hex.EncodeToString(got), hex.EncodeToString(row.sha256[:]))
	}
	return s, nil
}

// stagedFile is a verified object in its temporary file, not yet in place.
type stagedFile struct {
	dir  *localDir
	f    *os.File
	tmp  string // the temporary name; "" when f has no name (pull_unnamed.go)
	name string
}

// commit puts the file in place once it is on disk (fsync), so that the
// final name never holds half an object, even after a crash, and returns
// what the file is there, for the journal. On failure the temporary file
// is removed.
func (s *stagedFile) commit() (fi os.FileInfo, err error) {
	defer func() {
		if err != nil {
			s.discard()
		}
	}()
	if err := s.f.Sync(); err != nil {
		return nil, err
	}
	// The file's size and mtime are final: a rename changes neither.
	if fi, err = s.f.Stat(); err != nil {
		return nil, err
	}
	if s.tmp == "" {
		// Linked while open: the link goes through the descriptor.
		if err := s.dir.link(s.f, s.name); err != nil {
			return nil, err
		}
		return fi, s.f.Close()
	}
	if err := s.f.Close(); err != nil {
		return nil, err
	}
	return fi, s.dir.rename(s.tmp, s.name)
}

// discard drops the staged file; an unnamed one goes with its descriptor.
func (s *stagedFile) discard() {
	s.f.Close()
	if s.tmp != "" {
		s.dir.remove(s.tmp)
	}
}

// whole is one GET of the whole object, written and hashed as it streams.
func (t *pullTransfer) whole(ctx context.Context, f *os.File, row pullRow, h hash.Hash) error {
	rc, err := t.b.Open(ctx, row.key, nil)
	if err != nil {
		return err
	}
	defer rc.Close()
	// One byte past the recorded size is enough to tell a longer object.
	n, err := t.copy(ctx, io.MultiWriter(f, h), io.LimitReader(rc, row.size+1))
	if err != nil {
		return err
	}
	if n != row.size {
		return fmt.Errorf("%w: got %d bytes, want %d", ErrPullMismatch, n, row.size)
	}
	return nil
}

// copy is io.Copy in rate-limited chunks that count as progress.
func (t *pullTransfer) copy(ctx context.Context, w io.Writer, r io.Reader) (int64, error) {
	bp := t.buf()
	defer t.bufs.Put(bp)
	buf := *bp
	var total int64
	for {
		// Full chunks: a body read returns what the socket holds, often a
		// few KiB, and each would be a write of its own.
		n, rerr := io.ReadFull(r, buf)
		if rerr == io.ErrUnexpectedEOF {
			rerr = io.EOF
		}
		if n > 0 {
			if err := t.account(ctx, n); err != nil {
				return total, err
			}
			if _, err := w.Write(buf[:n]); err != nil {
				return total, err
			}
			total += int64(n)
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// account waits for the rate limit and counts n bytes read from the bucket.
func (t *pullTransfer) account(ctx context.Context, n int) error {
	t.prog.bytes.Add(int64(n))
	if t.lim == nil {
		return nil
	}
	return t.lim.WaitN(ctx, n)
}

// hashFile is the sha256 and size of a file already under the tree, for a
// file the journal does not vouch for (or --verify).
func (t *pullTransfer) hashFile(name string) ([sha256.Size]byte, int64, error) {
	f, err := t.dir.open(name)
	if err != nil {
		return [sha256.Size]byte{}, 0, err
	}
	defer f.Close()
	h := sha256.New()
	bp := t.buf()
	defer t.bufs.Put(bp)
	n, err := io.CopyBuffer(h, f, *bp)
	return [sha256.Size]byte(h.Sum(nil)), n, err
}
