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
//
// Parts carry no Content-MD5, by choice: the signed payload hash
// (x-amz-content-sha256, the SHA-256 of the part) is already checked by
// the store against the bytes it received, so an MD5 would guard nothing
// more, and it is not free although the part is in memory anyway: on the
// 2-core bench machine MD5 runs at about 800 MB/s against SHA-256's 1,640
// (SHA extensions), some 1.3 s of CPU per GiB uploaded.
func bytesReader(p []byte) io.ReadSeeker { return bytes.NewReader(p) }

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
