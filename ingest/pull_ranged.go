package ingest

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/astroingest/astroingest/bucket"
)

// ranged fetches a large object in parts of partSize, inFlight ranged GETs
// at a time, each written with WriteAt where it belongs, while one
// goroutine hashes the file in order up to the point below which every
// byte has landed (the frontier). The hasher reads back what the parts
// wrote (from the page cache), rather than holding completed parts in
// memory until their turn: memory stays at one chunk per GET whatever the
// part size, and a slow first part holds back no buffers, only the hash.
func (t *pullTransfer) ranged(ctx context.Context, f *os.File, row pullRow, h hash.Hash) error {
	if err := f.Truncate(row.size); err != nil {
		return err
	}
	fr := newFrontier(row.size, t.partSize)
	g, gctx := errgroup.WithContext(ctx)
	stop := context.AfterFunc(gctx, func() { fr.fail(gctx.Err()) })
	defer stop()
	g.Go(func() error { return t.hashInOrder(f, fr, h) })
	g.Go(func() error {
		parts, pctx := errgroup.WithContext(gctx)
		parts.SetLimit(t.inFlight)
		// Parts start in order, so the frontier is never far behind.
		for i := range fr.parts() {
			parts.Go(func() error {
				err := t.part(pctx, f, row, fr, i)
				if err != nil {
					fr.fail(err)
				}
				return err
			})
		}
		return parts.Wait()
	})
	return g.Wait()
}

// partAttempts is how often a part's GET is tried when its body breaks
// off; each retry asks only for the bytes still missing. (The bucket's
// own client retries failed requests before that.)
const partAttempts = 3

// part fetches part i into f.
func (t *pullTransfer) part(ctx context.Context, f *os.File, row pullRow, fr *frontier, i int) error {
	off, length := fr.span(i)
	var got int64
	var err error
	for range partAttempts {
		var rc io.ReadCloser
		rc, err = t.b.Open(ctx, row.key, &bucket.Range{Offset: off + got, Length: length - got})
		if err != nil {
			return err
		}
		var n int64
		n, err = t.copy(ctx, &sectionWriter{f: f, off: off + got, fr: fr, part: i}, io.LimitReader(rc, length-got))
		rc.Close()
		got += n
		if err == nil && got < length {
			return fmt.Errorf("%w: the object ends within part %d (offset %d), before its recorded %d bytes", ErrPullMismatch, i, off+got, row.size)
		}
		if err == nil || ctx.Err() != nil {
			return err
		}
	}
	return fmt.Errorf("part %d (offset %d): %w", i, off, err)
}

// sectionWriter writes at increasing offsets of f and moves part's share
// of the frontier on.
type sectionWriter struct {
	f    *os.File
	off  int64
	fr   *frontier
	part int
}

func (w *sectionWriter) Write(p []byte) (int, error) {
	w.fr.wmu.Lock()
	n, err := w.f.WriteAt(p, w.off)
	w.fr.wmu.Unlock()
	w.off += int64(n)
	w.fr.advance(w.part, int64(n))
	return n, err
}

// hashInOrder hashes f from the start as the frontier moves, until the end
// or until a part fails.
func (t *pullTransfer) hashInOrder(f *os.File, fr *frontier, h hash.Hash) error {
	bp := t.buf()
	defer t.bufs.Put(bp)
	buf := *bp
	var pos int64
	for pos < fr.size {
		hi, err := fr.wait(pos)
		if err != nil {
			return err
		}
		for pos < hi {
			n := int(min(int64(len(buf)), hi-pos))
			if _, err := f.ReadAt(buf[:n], pos); err != nil {
				return err
			}
			h.Write(buf[:n])
			pos += int64(n)
		}
	}
	return nil
}

// frontier tracks how much of each part has landed, and so the offset
// below which the file is complete. Safe for concurrent use.
type frontier struct {
	size, partSize int64
	mu             sync.Mutex
	// wmu takes one part's write at a time: writes to one file contend
	// for its inode lock in the kernel anyway, and four at once burnt
	// some 15% more CPU there than taking turns (measured on tmpfs).
	wmu   sync.Mutex
	cond  *sync.Cond
	done  []int64 // bytes landed of each part, from its start
	first int     // the first part not complete
	err   error
}

func newFrontier(size, partSize int64) *frontier {
	fr := &frontier{size: size, partSize: partSize, done: make([]int64, (size+partSize-1)/partSize)}
	fr.cond = sync.NewCond(&fr.mu)
	return fr
}

func (fr *frontier) parts() int { return len(fr.done) }

// span is part i's offset and length.
func (fr *frontier) span(i int) (int64, int64) {
	off := int64(i) * fr.partSize
	return off, min(fr.partSize, fr.size-off)
}

func (fr *frontier) advance(i int, n int64) {
	fr.mu.Lock()
	fr.done[i] += n
	fr.cond.Broadcast()
	fr.mu.Unlock()
}

// fail wakes the hasher with err (the first error wins).
func (fr *frontier) fail(err error) {
	if err == nil {
		err = errors.New("pull: transfer stopped")
	}
	fr.mu.Lock()
	if fr.err == nil {
		fr.err = err
	}
	fr.cond.Broadcast()
	fr.mu.Unlock()
}

// wait blocks until the file is complete beyond pos and returns how far.
func (fr *frontier) wait(pos int64) (int64, error) {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	for {
		if fr.err != nil {
			return pos, fr.err
		}
		for fr.first < len(fr.done) {
			if _, l := fr.span(fr.first); fr.done[fr.first] < l {
				break
			}
			fr.first++
		}
		hi := fr.size
		if fr.first < len(fr.done) {
			hi = int64(fr.first)*fr.partSize + fr.done[fr.first]
		}
		if hi > pos {
			return hi, nil
		}
		fr.cond.Wait()
	}
}
