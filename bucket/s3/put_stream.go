package s3

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/astroingest/astroingest/bucket"
)

// Writing through (bucket.PutOptions.WriteThrough): a stream of known
// length that fits one part, and whose MD5 the caller knows, is not held
// in memory until Commit but streamed straight into one PutObject, with
// Content-Length and Content-MD5; the object is visible when Put returns.
//
// Why only with an MD5. What keeps anything partial or unverified from
// becoming visible is then the store, not us, and what the store refuses
// was measured against versitygw (TestStoreEnforces): it refuses a body
// whose MD5 differs from Content-MD5 (400 BadDigest), as S3 documents it
// does; R2 takes the same md5 check on a put (it is an R2PutOptions field
// of its Workers API), but that was not measured here. A body shorter than
// Content-Length is not refused by every store: versitygw v1.8.0 stores
// the bytes it got when the client breaks off the request (a source that
// fails halfway, a cancellation), so the length alone guarantees nothing.
// With Content-MD5 a short body fails the digest instead. So a stream
// without a known MD5 keeps the staged path: buffered, checked, then
// committed. So does one with only a sha1, sha256 or sha512: versitygw
// does refuse a wrong x-amz-checksum-sha256, but R2's S3 compatibility
// page lists SHA-1 and SHA-256 only as COMPOSITE (multipart) checksums,
// not FULL_OBJECT ones, sha512 has no header, and the SDK would send a
// checksum it computes itself only as an aws-chunked trailer, which R2
// refuses.
//
// On the wire: the body cannot be rewound, so it is sent as
// UNSIGNED-PAYLOAD (the SDK would otherwise read it whole to hash it for
// SigV4), never aws-chunked (checksums are computed "when required" only,
// see New), and Content-MD5 is the only digest header. Such a request
// cannot be retried by the SDK, so it is tried once (see once): a failure
// fails the Put, and the caller (ingest) refetches the object if it wants
// to.

// writesThrough reports whether Put may stream opts' object straight into
// one PutObject.
func (b *Bucket) writesThrough(opts bucket.PutOptions) bool {
	return opts.WriteThrough && opts.Size > 0 && opts.Size <= int64(b.partSizeFor(opts.Size)) &&
		len(opts.ContentMD5) == md5.Size
}

// putThrough streams r into one PutObject (see above). As for a staged
// object's Commit, the request, once sent, is awaited rather than cut off
// by ctx (see requestGrace); cancelling ctx stops the reading of r, and
// the store refuses the short body.
func (b *Bucket) putThrough(ctx context.Context, key string, r io.Reader, opts bucket.PutOptions) (bucket.Pending, error) {
	body := &sourceReader{r: bucket.CheckSizeAndDigest(bucket.ContextReader(ctx, r), opts, false)}
	in := b.putObjectInput(key, body, opts.Size, opts)
	in.ContentMD5 = aws.String(base64.StdEncoding.EncodeToString(opts.ContentMD5))
	rctx, release := outlive(ctx, requestGrace)
	defer release()
	out, err := b.client.PutObject(rctx, in, s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware), once)
	if err != nil {
		return nil, b.throughError(ctx, err, body.failure(), opts)
	}
	return &writtenPending{key: key, info: putInfo(key, opts.Size, out, opts)}, nil
}

// once makes one attempt of a request whose body cannot be replayed: the
// SDK's retry would only fail to rewind it, and report that ("failed to
// rewind transport stream for retry") in place of the real error, an
// untrusted certificate say.
func once(o *s3.Options) { o.Retryer = retry.AddWithMaxAttempts(o.Retryer, 1) }

// throughError says why a streamed PutObject failed: the source (its own
// error, or a mismatch with Size) is the cause when it failed, since the
// request's error is then only its consequence (often the SDK's "failed
// to rewind" of a retry it could not make).
func (b *Bucket) throughError(ctx context.Context, err, src error, opts bucket.PutOptions) error {
	switch {
	case ctx.Err() != nil:
		return context.Cause(ctx)
	case src != nil:
		if errors.Is(src, bucket.ErrSizeMismatch) {
			return src
		}
		return fmt.Errorf("read source: %w", src)
	case preconditionFailed(err, opts):
		return fmt.Errorf("%w: %w", bucket.ErrPrecondition, err)
	case isBadDigest(err):
		return fmt.Errorf("%w: the store refused the body as not of md5 %x: %w", bucket.ErrDigestMismatch, opts.ContentMD5, err)
	}
	return fmt.Errorf("put object: %w", mapErr(err))
}

func isBadDigest(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "BadDigest" || ae.ErrorCode() == "InvalidDigest")
}

// sourceReader keeps the first error of the request body, which the
// transport reads on its own goroutine.
type sourceReader struct {
	r io.Reader

	mu  sync.Mutex
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		s.mu.Lock()
		if s.err == nil {
			s.err = err
		}
		s.mu.Unlock()
	}
	return n, err
}

func (s *sourceReader) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// writtenPending is an object Put already wrote through: Commit reports
// it, Abort cannot take it back.
type writtenPending struct {
	key  string
	info bucket.ObjectInfo

	mu        sync.Mutex
	committed bool
}

func (p *writtenPending) Size() int64 { return p.info.Size }

// Commit returns the object's info whatever ctx: it is already visible.
func (p *writtenPending) Commit(context.Context) (bucket.ObjectInfo, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.committed {
		return bucket.ObjectInfo{}, fmt.Errorf("s3: commit %s: already committed", p.key)
	}
	p.committed = true
	return p.info, nil
}

// Abort is a no-op after Commit, as for any Pending; before it, it says
// that the object is already visible.
func (p *writtenPending) Abort(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.committed {
		return nil
	}
	return fmt.Errorf("s3: abort %s: %w", p.key, bucket.ErrVisible)
}
