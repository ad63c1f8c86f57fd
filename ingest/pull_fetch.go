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

// fetch brings row's object to name, verified. A mismatch is fetched once
// more, fresh, before it fails: a bad read on the way is not a bad object.
// It returns what the file is once in place, for the journal.
func (t *pullTransfer) fetch(ctx context.Context, name string, row pullRow) (os.FileInfo, error) {
	var err error
	for range 2 {
		var fi os.FileInfo
		if fi, err = t.fetchOnce(ctx, name, row); err == nil || !errors.Is(err, ErrPullMismatch) || ctx.Err() != nil {
			return fi, err
		}
	}
	return nil, err
}

// fetchOnce writes the object to a temporary name beside name, hashing it
// as it comes, and renames it into place only once it is verified and on
// disk (fsync), so that name never holds half an object, even after a
// crash. On any failure the temporary file is removed.
func (t *pullTransfer) fetchOnce(ctx context.Context, name string, row pullRow) (fi os.FileInfo, err error) {
	tmp := tempName(name)
	f, err := t.dir.create(tmp)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			f.Close()
			t.dir.remove(tmp)
		}
	}()
	h := sha256.New()
	if row.size >= t.rangedFrom() {
		err = t.ranged(ctx, f, row, h)
	} else {
		err = t.whole(ctx, f, row, h)
	}
	if err != nil {
		return nil, err
	}
	if got := h.Sum(nil); [sha256.Size]byte(got) != row.sha256 {
		return nil, fmt.Errorf("%w: got sha256 %s, want %s", ErrPullMismatch, hex.EncodeToString(got), hex.EncodeToString(row.sha256[:]))
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	// The file's size and mtime are final: a rename changes neither.
	if fi, err = f.Stat(); err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return fi, t.dir.rename(tmp, name)
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
