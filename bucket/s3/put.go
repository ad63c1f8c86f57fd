package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"

	"github.com/astroingest/astroingest/bucket"
)

// Put implements bucket.Bucket. It reads r in parts of equal size. A stream
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
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
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

// uploadMultipart sends first (full), second (m bytes) and the rest of r as
// parts of one upload. It owns first and second from here on.
//
// Cancelling ctx stops reading r at once and starts no further request; the
// requests already sent finish (within requestGrace) and the upload is then
// aborted, and the abort verified. CreateMultipartUpload itself is not cut
// by ctx, so its upload id is always learned and the upload aborted. Only
// when it fails outright (a network fault after the server acted, or no
// answer within requestGrace after a cancel) can an upload be left whose id
// is unknown; no caller can abort that one safely, since another writer
// may be uploading the same key, and bucket.StaleCleaner removes it later.
func (b *Bucket) uploadMultipart(ctx context.Context, key string, r io.Reader, opts bucket.PutOptions, size int, first, second []byte, m int) (_ *multipartPending, err error) {
	in := &s3.CreateMultipartUploadInput{
		Bucket:   &b.bucket,
		Key:      aws.String(key),
		Metadata: bucket.NormalizeMetadata(opts.Metadata),
	}
	if opts.ContentType != "" {
		in.ContentType = aws.String(opts.ContentType)
	}
	// stop ends the upload early: done when ctx is, or when a part fails.
	sctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	rctx, release := outlive(sctx, requestGrace)
	defer release()

	if sctx.Err() != nil {
		b.bufs.put(first)
		b.bufs.put(second)
		return nil, context.Cause(ctx)
	}
	out, err := b.client.CreateMultipartUpload(rctx, in)
	if err != nil {
		b.bufs.put(first)
		b.bufs.put(second)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("create multipart upload: %w", errors.Join(context.Cause(ctx), mapErr(err)))
		}
		return nil, fmt.Errorf("create multipart upload: %w", mapErr(err))
	}
	mp := &multipartPending{b: b, key: key, uploadID: aws.ToString(out.UploadId), opts: opts}
	defer func() {
		if err != nil {
			if aerr := mp.abort(ctx); aerr != nil {
				err = errors.Join(err, aerr)
			}
		}
	}()

	// Parts run on rctx: a failed part must not cut the others off (see
	// requestGrace), it only keeps new ones from starting.
	var g errgroup.Group
	g.SetLimit(b.concurrency)
	var mu sync.Mutex
	send := func(num int32, buf []byte, n int) {
		mp.size += int64(n)
		// Go blocks while Concurrency parts are in flight, so the reader
		// never runs more than one buffer ahead.
		g.Go(func() error {
			defer b.bufs.put(buf)
			if sctx.Err() != nil {
				return nil // stopping: the error that stopped us is reported
			}
			etag, err := b.uploadPart(rctx, mp.uploadID, key, num, buf[:n])
			if err != nil {
				err = fmt.Errorf("upload part %d: %w", num, err)
				stop(err)
				return err
			}
			mu.Lock()
			mp.parts = append(mp.parts, types.CompletedPart{ETag: etag, PartNumber: aws.Int32(num)})
			mu.Unlock()
			return nil
		})
	}

	send(1, first, size)
	num, buf, n := int32(2), second, m
	var readErr error
	for {
		send(num, buf, n)
		if n < size {
			break
		}
		if sctx.Err() != nil {
			break // a part failed or ctx is done; g.Wait reports which
		}
		buf = b.bufs.get(size)
		n, readErr = readPart(ctx, r, buf)
		if readErr != nil || n == 0 {
			b.bufs.put(buf)
			break
		}
		if num++; num > MaxParts {
			b.bufs.put(buf)
			readErr = fmt.Errorf("stream is longer than %d parts of %d bytes (%d bytes); pass its length as SizeHint to get larger parts", MaxParts, size, int64(MaxParts)*int64(size))
			break
		}
	}
	werr := g.Wait()
	// Parts cut off by requestGrace may still land on the server after the
	// abort; the abort then watches for the upload coming back.
	mp.cut = rctx.Err() != nil
	if cerr := ctx.Err(); cerr != nil {
		// Report the cancellation itself, not the part that noticed it.
		return nil, context.Cause(ctx)
	}
	if readErr != nil {
		return nil, readErr
	}
	if werr != nil {
		return nil, werr
	}
	slices.SortFunc(mp.parts, func(a, b types.CompletedPart) int {
		return int(aws.ToInt32(a.PartNumber) - aws.ToInt32(b.PartNumber))
	})
	return mp, nil
}

// outlive returns a context for requests that must not be cut off the
// moment parent is done (see requestGrace). It keeps parent's values, is
// cancelled grace after parent is done, and by the returned cancel.
func outlive(parent context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	var mu sync.Mutex
	var timer *time.Timer
	released := false
	stopWatch := context.AfterFunc(parent, func() {
		mu.Lock()
		defer mu.Unlock()
		if !released {
			timer = time.AfterFunc(grace, cancel)
		}
	})
	return ctx, func() {
		stopWatch()
		mu.Lock()
		released = true
		if timer != nil {
			timer.Stop()
		}
		mu.Unlock()
		cancel()
	}
}

func (b *Bucket) uploadPart(ctx context.Context, uploadID, key string, num int32, data []byte) (*string, error) {
	out, err := b.client.UploadPart(ctx, &s3.UploadPartInput{
		Bucket:        &b.bucket,
		Key:           aws.String(key),
		UploadId:      &uploadID,
		PartNumber:    aws.Int32(num),
		Body:          bytesReader(data),
		ContentLength: aws.Int64(int64(len(data))),
	}, func(o *s3.Options) { o.Retryer = b.partRetryer })
	if err != nil {
		return nil, mapErr(err)
	}
	return out.ETag, nil
}

// bytesReader is seekable, so the SDK can hash the payload for SigV4 and
// rewind it for a retry without copying.
func bytesReader(p []byte) io.ReadSeeker { return bytes.NewReader(p) }

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
	out, err := p.b.client.PutObject(rctx, p.b.putObjectInput(p.key, p.buf[:p.n], p.opts))
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
	return bucket.ObjectInfo{
		Key:         p.key,
		Size:        int64(p.n),
		ETag:        trimETag(out.ETag),
		ModTime:     responseTime(out.ResultMetadata),
		ContentType: p.opts.ContentType,
		Metadata:    bucket.NormalizeMetadata(p.opts.Metadata),
	}, nil
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

// multipartPending is an uploaded but not yet completed multipart upload.
type multipartPending struct {
	b        *Bucket
	key      string
	uploadID string
	opts     bucket.PutOptions
	size     int64
	parts    []types.CompletedPart

	mu    sync.Mutex
	state state
	// cut is whether a request of the upload was cut off after
	// requestGrace, so the server may still be acting on it.
	cut bool
}

func (p *multipartPending) Size() int64 { return p.size }

// Commit completes the upload. CompleteMultipartUpload is not cut off by
// ctx (see requestGrace): once sent, its answer is awaited, so a commit the
// server carried out is reported as one. When ctx is done before the
// request, or the request fails once ctx is done, the caller is going away
// and will not retry, so the upload is aborted rather than left staged.
// So is it when the write condition (PutOptions.IfMatch, IfNoneMatch) does
// not hold. Other failures leave it staged for the caller to retry Commit
// or Abort.
func (p *multipartPending) Commit(ctx context.Context) (bucket.ObjectInfo, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.state.check(p.key); err != nil {
		return bucket.ObjectInfo{}, err
	}
	if ctx.Err() != nil {
		return bucket.ObjectInfo{}, p.abandon(ctx, fmt.Errorf("s3: commit %s: %w", p.key, context.Cause(ctx)))
	}
	rctx, release := outlive(ctx, requestGrace)
	defer release()
	in := &s3.CompleteMultipartUploadInput{
		Bucket:          &p.b.bucket,
		Key:             aws.String(p.key),
		UploadId:        &p.uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: p.parts},
	}
	in.IfMatch, in.IfNoneMatch = conditions(p.opts)
	out, err := p.b.client.CompleteMultipartUpload(rctx, in)
	if err != nil && preconditionFailed(err, p.opts) {
		// The upload stays on the server after a failed condition; a
		// retry could only fail again, so it is aborted here.
		return bucket.ObjectInfo{}, p.abandon(ctx, fmt.Errorf("s3: commit %s: %w: %w", p.key, bucket.ErrPrecondition, err))
	}
	if err != nil {
		err = fmt.Errorf("s3: commit %s: complete multipart upload: %w", p.key, mapErr(err))
		if ctx.Err() == nil {
			return bucket.ObjectInfo{}, err
		}
		if rctx.Err() != nil {
			p.cut = true
			err = fmt.Errorf("%w (no answer within %v of the cancellation: the server may still have committed the object)", err, requestGrace)
		}
		return bucket.ObjectInfo{}, p.abandon(ctx, err)
	}
	p.state = committed
	return bucket.ObjectInfo{
		Key:         p.key,
		Size:        p.size,
		ETag:        trimETag(out.ETag),
		ModTime:     responseTime(out.ResultMetadata),
		ContentType: p.opts.ContentType,
		Metadata:    bucket.NormalizeMetadata(p.opts.Metadata),
	}, nil
}

// abandon aborts the upload after a Commit that failed with err.
func (p *multipartPending) abandon(ctx context.Context, err error) error {
	if aerr := p.abort(ctx); aerr != nil {
		return errors.Join(err, fmt.Errorf("s3: abort %s: %w", p.key, aerr))
	}
	p.state = aborted
	return err
}

func (p *multipartPending) Abort(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state != staged {
		return nil
	}
	if err := p.abort(ctx); err != nil {
		return fmt.Errorf("s3: abort %s: %w", p.key, err)
	}
	p.state = aborted
	return nil
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

// abort removes the upload, even when ctx is already cancelled: leaving it
// to the bucket's lifecycle rule would keep paying for the parts for days.
// S3 documents that a part still being stored when its upload is aborted
// can bring it back, so that the abort has to be repeated; so abort checks
// with ListParts that the upload is gone, and aborts again while it is not.
// All parts have answered by now unless some were cut off (p.cut); then
// one may still land, so the check is repeated for a while.
func (p *multipartPending) abort(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	need := 1
	if p.cut {
		need = settleChecks
	}
	wait := firstCheckWait
	gone, aborts := 0, 0
	for {
		if gone == 0 {
			aborts++
			_, err := p.b.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
				Bucket:   &p.b.bucket,
				Key:      aws.String(p.key),
				UploadId: &p.uploadID,
			})
			if err != nil && !isNoSuchUpload(err) {
				return fmt.Errorf("abort multipart upload %s: %w", p.uploadID, err)
			}
		}
		exists, err := p.exists(ctx)
		if err != nil {
			return err
		}
		switch {
		case !exists:
			if gone++; gone >= need {
				return nil
			}
		case aborts == abortAttempts:
			return fmt.Errorf("multipart upload %s still exists after %d aborts", p.uploadID, aborts)
		default:
			gone = 0
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("abort multipart upload %s: %w", p.uploadID, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, maxCheckWait)
	}
}

// exists asks the server whether the upload is still there.
func (p *multipartPending) exists(ctx context.Context) (bool, error) {
	_, err := p.b.client.ListParts(ctx, &s3.ListPartsInput{
		Bucket:   &p.b.bucket,
		Key:      aws.String(p.key),
		UploadId: &p.uploadID,
		MaxParts: aws.Int32(1),
	})
	switch {
	case err == nil:
		return true, nil
	case isNoSuchUpload(err), httpStatus(err) == http.StatusNotFound:
		return false, nil
	}
	return false, fmt.Errorf("check abort of multipart upload %s: list parts: %w", p.uploadID, err)
}

// bufferPool recycles part buffers of the configured size across uploads.
// It keeps at most maxIdle free buffers (one upload's worth), so memory held
// between uploads stays bounded; buffers of other sizes (larger parts chosen
// for a big SizeHint) are rare and left to the garbage collector. The
// counters let tests check the Concurrency+1 bound and the reuse.
type bufferPool struct {
	size    int
	maxIdle int

	mu     sync.Mutex
	free   [][]byte
	live   int // handed out, not yet returned
	peak   int
	allocs int
}

func newBufferPool(size, maxIdle int) *bufferPool {
	return &bufferPool{size: size, maxIdle: maxIdle}
}

func (bp *bufferPool) get(size int) []byte {
	bp.mu.Lock()
	defer bp.mu.Unlock()
	bp.live++
	bp.peak = max(bp.peak, bp.live)
	if size == bp.size && len(bp.free) > 0 {
		b := bp.free[len(bp.free)-1]
		bp.free = bp.free[:len(bp.free)-1]
		return b
	}
	bp.allocs++
	return make([]byte, size)
}

// getFree returns a free buffer of the pool's size, or nil when none is
// free: the caller then reads into a smaller buffer of its own.
func (bp *bufferPool) getFree(size int) []byte {
	bp.mu.Lock()
	defer bp.mu.Unlock()
	if size != bp.size || len(bp.free) == 0 {
		return nil
	}
	bp.live++
	bp.peak = max(bp.peak, bp.live)
	b := bp.free[len(bp.free)-1]
	bp.free = bp.free[:len(bp.free)-1]
	return b
}

// adopt counts a part buffer the caller allocated itself (a first read that
// grew to the part size) as handed out; it is returned with put.
func (bp *bufferPool) adopt() {
	bp.mu.Lock()
	defer bp.mu.Unlock()
	bp.live++
	bp.peak = max(bp.peak, bp.live)
	bp.allocs++
}

func (bp *bufferPool) put(b []byte) {
	bp.mu.Lock()
	defer bp.mu.Unlock()
	bp.live--
	if cap(b) == bp.size && len(bp.free) < bp.maxIdle {
		bp.free = append(bp.free, b[:bp.size])
	}
}
