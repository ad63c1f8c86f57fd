package s3

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/astroingest/astroingest/bucket"
)

// Put implements bucket.Bucket. With opts.WriteThrough, a stream of known
// Size and ContentMD5 that fits one part goes straight into one PutObject
// (see put_stream.go). Otherwise it reads r in parts of equal size. A stream
// that fits in one part stays in memory and is written by a single PutObject
// at Commit. A longer one becomes a multipart upload whose parts are sent
// concurrently (at most Concurrency in flight and Concurrency+1 buffers held)
// and which is completed only by Commit. On a read error, a failed part or a
// cancelled ctx the upload is aborted, and the abort verified, before Put
// returns; cancelling ctx stops the reading of r at once, but the requests
// already sent are awaited first (see requestGrace).
//
// Without opts.SizeHint the part size is the configured one, so the largest
// object is MaxParts × PartSize (about 156 GiB at the default 16 MiB); with a
// hint, parts grow to keep the hinted size within MaxParts.
func (b *Bucket) Put(ctx context.Context, key string, r io.Reader, opts bucket.PutOptions) (bucket.Pending, error) {
	if err := bucket.ValidateKey(key); err != nil {
		return nil, fmt.Errorf("s3: put %s: %w", key, err)
	}
	fail := func(err error) (bucket.Pending, error) {
		return nil, fmt.Errorf("s3: put %s: %w", key, err)
	}
	if err := bucket.CheckConditions(opts); err != nil {
		return fail(err)
	}
	if ctx.Err() != nil {
		return fail(context.Cause(ctx))
	}
	if opts.SizeHint <= 0 && opts.Size > 0 {
		opts.SizeHint = opts.Size
	}
	if b.writesThrough(opts) {
		p, err := b.putThrough(ctx, key, r, opts)
		if err != nil {
			return fail(err)
		}
		return p, nil
	}
	r = bucket.CheckSizeAndDigest(r, opts, true)
	size := b.partSizeFor(opts.SizeHint)
	first, n, pooled, err := b.readFirst(ctx, r, size, opts.SizeHint)
	if err != nil {
		return fail(err)
	}
	if n < size {
		return &singlePending{b: b, key: key, opts: opts, buf: first, n: n, pooled: pooled}, nil
	}
	// The first part is full: read one more to learn whether the stream is
	// exactly one part long, in which case a plain PutObject still does.
	second := b.bufs.get(size)
	m, err := readPart(ctx, r, second)
	if err != nil {
		b.bufs.put(first)
		b.bufs.put(second)
		return fail(err)
	}
	if m == 0 {
		b.bufs.put(second)
		return &singlePending{b: b, key: key, opts: opts, buf: first, n: n, pooled: true}, nil
	}
	mp, err := b.uploadMultipart(ctx, key, r, opts, size, first, second, m)
	if err != nil {
		return fail(err)
	}
	return mp, nil
}

// firstBufSize is where the first read of a stream of unknown length starts
// when no pooled part buffer is free.
const firstBufSize = 32 << 10

// readFirst reads up to one part of r. Small objects must not cost a whole
// part buffer: allocating and zeroing 16 MiB for a 16 KiB object dominated
// the CPU of many-small mirrors and held workers x part size of memory. So
// unless the stream is known (hinted) to fill a part, or a pooled buffer is
// free, the bytes go into a buffer of the hinted size (+1 to see EOF), or one
// that doubles from firstBufSize, up to the part size. A buffer that reaches
// the part size joins the pool's accounting (pooled is then true); a smaller
// one is left to the garbage collector.
func (b *Bucket) readFirst(ctx context.Context, r io.Reader, size int, hint int64) (buf []byte, n int, pooled bool, err error) {
	if hint >= int64(size) {
		buf = b.bufs.get(size)
	} else if hint <= 0 {
		buf = b.bufs.getFree(size)
	}
	if buf != nil {
		n, err = readPart(ctx, r, buf)
		if err != nil {
			b.bufs.put(buf)
			return nil, 0, false, err
		}
		return buf, n, true, nil
	}
	c := firstBufSize
	if hint > 0 {
		c = int(hint) + 1
	}
	buf = make([]byte, min(c, size))
	for {
		m, err := readPart(ctx, r, buf[n:])
		n += m
		switch {
		case err != nil:
			return nil, 0, false, err
		case n < len(buf):
			return buf, n, false, nil
		case len(buf) == size:
			b.bufs.adopt()
			return buf, n, true, nil
		}
		grown := make([]byte, min(2*len(buf), size))
		copy(grown, buf[:n])
		buf = grown
	}
}

// partSizeFor picks the smallest part size, at least the configured one and
// a whole number of MiB, that keeps a hinted object within MaxParts.
func (b *Bucket) partSizeFor(hint int64) int {
	size := b.partSize
	if hint > 0 {
		need := (hint + MaxParts - 1) / MaxParts
		need = (need + MiB - 1) / MiB * MiB
		size = max(size, need)
	}
	return int(min(size, MaxPartSize))
}

// readPart fills buf from r and returns how many bytes it read; a short
// count means r is at EOF. It returns ctx's error once ctx is done, since a
// reader that ignores ctx must still not be uploaded after cancellation.
func readPart(ctx context.Context, r io.Reader, buf []byte) (int, error) {
	n, err := io.ReadFull(r, buf)
	switch {
	// Compared by identity, not errors.Is: ReadFull returns these two
	// unwrapped for a clean end of r, while r's own error may wrap
	// ErrUnexpectedEOF (a publisher's connection cut mid-body), and that
	// one is a failure, not the end of the stream.
	case err == io.EOF, err == io.ErrUnexpectedEOF: //nolint:errorlint // see above
		err = nil
	case err != nil:
		return n, fmt.Errorf("read source: %w", err)
	}
	if cerr := ctx.Err(); cerr != nil {
		return n, context.Cause(ctx)
	}
	return n, err
}

// requestGrace is how long the requests of a multipart upload may run on
// once the caller's context is done or a part has failed. They are not cut
// at once, because a request cut off client-side may still be carried out
// by the server: a CreateMultipartUpload whose answer is lost creates an
// upload whose id we never learn, and a part the server is still storing
// brings an aborted upload back (S3 documents that an abort may have to be
// repeated; versitygw recreates the upload's directory). So those requests
// run on a context detached from the caller's and are waited for, and only
// requests still running after requestGrace are cut.
const requestGrace = 15 * time.Second

// state is where a Pending is in its life.
type state int

const (
	staged state = iota
	committed
	aborted
)

func (s state) check(key string) error {
	switch s {
	case committed:
		return fmt.Errorf("s3: commit %s: already committed", key)
	case aborted:
		return fmt.Errorf("s3: commit %s: already aborted", key)
	}
	return nil
}

// singlePending holds a stream that fit in one part, in a pooled buffer,
// until Commit writes it with one PutObject.
type singlePending struct {
	b    *Bucket
	key  string
	opts bucket.PutOptions

	mu    sync.Mutex
	state state
	buf   []byte
	n     int
	// pooled is whether buf counts as one of the pool's part buffers;
	// small first reads do not.
	pooled bool
}

func (p *singlePending) Size() int64 { return int64(p.n) }

func (p *singlePending) Commit(ctx context.Context) (bucket.ObjectInfo, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.state.check(p.key); err != nil {
		return bucket.ObjectInfo{}, err
	}
	if ctx.Err() != nil {
		return bucket.ObjectInfo{}, fmt.Errorf("s3: commit %s: %w", p.key, context.Cause(ctx))
	}
	// Once sent, the PutObject is awaited rather than cut off by ctx (see
	// requestGrace): an object the server stored after we gave up would be
	// visible although Commit failed, and Abort could not take it back.
	rctx, release := outlive(ctx, requestGrace)
	defer release()
	out, err := p.b.client.PutObject(rctx, p.b.putObjectInput(p.key, bytesReader(p.buf[:p.n]), int64(p.n), p.opts))
	if err != nil && preconditionFailed(err, p.opts) {
		// A retry could only fail again: nothing stays staged.
		p.release(aborted)
		return bucket.ObjectInfo{}, fmt.Errorf("s3: commit %s: %w: %w", p.key, bucket.ErrPrecondition, err)
	}
	if err != nil {
		// Still staged: the caller may retry Commit or Abort.
		return bucket.ObjectInfo{}, fmt.Errorf("s3: commit %s: %w", p.key, mapErr(err))
	}
	p.release(committed)
	return putInfo(p.key, int64(p.n), out, p.opts), nil
}

func (p *singlePending) Abort(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == staged {
		p.release(aborted)
	}
	return nil
}

func (p *singlePending) release(s state) {
	p.state = s
	if p.pooled {
		p.b.bufs.put(p.buf)
	}
	p.buf = nil
}

const (
	// abortAttempts bounds the AbortMultipartUpload requests for an upload
	// that keeps coming back.
	abortAttempts = 5
	// settleChecks is how many checks in a row (0.1, 0.2, 0.4 and 0.8 s
	// apart) must find a cut-off upload gone before it is believed gone.
	settleChecks = 5
	// firstCheckWait is the wait before a check is repeated; it doubles up
	// to maxCheckWait.
	firstCheckWait = 100 * time.Millisecond
	maxCheckWait   = 1600 * time.Millisecond
)
