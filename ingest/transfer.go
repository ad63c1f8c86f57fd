package ingest

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/internal/redact"
	"github.com/astroingest/astroingest/sources"
	"github.com/hashicorp/go-retryablehttp"
	"golang.org/x/time/rate"
)

// transfer moves one object from its publisher into the bucket: fetch,
// hash, put, verify, then commit or abort. It knows nothing of entries,
// schedules or budgets beyond the charge it is handed. One transfer value
// serves the whole run and is safe for concurrent use.
type transfer struct {
	bucket  bucket.Bucket
	client  *retryablehttp.Client
	bw      *rate.Limiter // run-wide --bwlimit; nil for none
	retry   RetryPolicy   // Restarts, Resumes and Stall are the transfer's
	now     func() time.Time
	runID   string
	red     redact.Redactor
	metrics *Metrics
	log     *slog.Logger // only for a failed abort, which has no caller to tell

	// onRead sees every byte count read from a publisher (the live rate);
	// onRetry is told of each retry, so that retries are reported by the
	// runner, not logged from here.
	onRead  func(n int)
	onRetry func(key string, attempt int, err error)
}

// objectJob is one object to bring into the bucket.
type objectJob struct {
	domain string
	obj    sources.Object
	key    string
	// cond, when set, is the previous record whose validators make the
	// request conditional: a 304 answers "unchanged".
	cond   *ObjectRecord
	charge *charge
	// types are the media types the family expects (see checkContentType).
	types []string
}

// run transfers the object, restarting a broken download up to
// RetryPolicy.Restarts times and refetching once, fresh, after a failed
// verification. It returns objUploaded with the new record, objUnchanged
// when the publisher answered 304, or an error: the context's on
// cancellation, a *budgetError, or the last attempt's failure.
func (x *transfer) run(ctx context.Context, j objectJob) (ObjectRecord, objStatus, error) {
	mismatchRetried := false
	for attempt := 1; ; attempt++ {
		rec, st, err := x.attempt(ctx, j)
		if err == nil {
			return rec, st, nil
		}
		if ctx.Err() != nil {
			return ObjectRecord{}, objCancelled, ctx.Err()
		}
		var me *mismatchError
		var te *transientError
		var be *budgetError
		switch {
		case errors.As(err, &be):
			return ObjectRecord{}, objSkipped, err
		case errors.As(err, &me) && !mismatchRetried:
			mismatchRetried = true
			j.cond = nil // the fresh retry must not be answered with a 304
			x.onRetry(j.key, attempt, err)
			continue
		case errors.As(err, &te) && attempt < x.retry.Restarts:
			x.onRetry(j.key, attempt, err)
			select {
			case <-time.After(x.retry.WaitMin * time.Duration(attempt)):
			case <-ctx.Done():
				return ObjectRecord{}, objCancelled, ctx.Err()
			}
			continue
		}
		return ObjectRecord{}, objFailed, fmt.Errorf("%s: %w", j.key, err)
	}
}

// attempt is one download of an object streamed into the bucket:
// body -> budget/bwlimit meter -> hashes (tee) -> bucket.Put, then the
// staged object is checked against the publisher's size and checksum and
// committed only if both agree. When the length is known exactly and the
// publisher gives an md5, the bucket itself enforces both (putOptions),
// and may write the object through during Put.
func (x *transfer) attempt(ctx context.Context, j objectJob) (ObjectRecord, objStatus, error) {
	o := j.obj
	octx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stall := time.AfterFunc(x.retry.Stall, func() { cancel(errStalled) })
	defer stall.Stop()

	start := time.Now()
	dl, err := openObject(octx, x.client, o, j.cond, x.retry.Resumes)
	if err != nil {
		if errors.Is(context.Cause(octx), errStalled) && ctx.Err() == nil {
			return ObjectRecord{}, 0, &transientError{errStalled}
		}
		return ObjectRecord{}, 0, err
	}
	if dl.notModified {
		return ObjectRecord{}, objUnchanged, nil
	}
	defer dl.body.Close()
	if err := checkContentType(j.types, j.key, dl.contentType, dl.body); err != nil {
		return ObjectRecord{}, 0, err
	}
	ctype := o.ContentType
	if ctype == "" {
		ctype = dl.contentType
	}
	opts := putOptions(o, dl.contentLength, ctype)
	sha, pub, hashes, err := attemptHashes(o, opts)
	if err != nil {
		return ObjectRecord{}, 0, err
	}

	mr := &meteredReader{ctx: octx, r: dl.body, lim: x.bw, charge: j.charge, onRead: func(n int) {
		stall.Reset(x.retry.Stall)
		x.onRead(n)
	}}
	x.metrics.inflightAdd(1)
	defer x.metrics.inflightAdd(-1)
	// On cancellation the source read stops at once (mr and the body are
	// bound to octx) and Put aborts. Letting parts already on the wire
	// finish before the abort, so that none revives the upload, is the
	// bucket's job (bucket/s3 does it under its own bounded grace).
	p, err := x.bucket.Put(octx, j.key, io.TeeReader(mr, io.MultiWriter(hashes...)), opts)
	if err != nil {
		perr := putError(ctx, octx, err)
		var bk *bucketError
		if opts.WriteThrough && errors.As(perr, &bk) && !errors.Is(err, bucket.ErrPrecondition) {
			// The bucket cannot retry a request whose body is the
			// stream itself; refetching the object is its retry.
			perr = &transientError{perr}
		}
		return ObjectRecord{}, 0, perr
	}
	// Written through, these checks cannot fail: Put enforced the size and
	// the md5, and there is no other publisher checksum (putOptions).
	if mis := checkStaged(p.Size(), mr.n, o, pub); mis != nil {
		x.abort(ctx, p, j.key)
		return ObjectRecord{}, 0, mis
	}
	if _, err := p.Commit(ctx); err != nil {
		x.abort(ctx, p, j.key)
		if ctx.Err() != nil {
			return ObjectRecord{}, 0, ctx.Err()
		}
		return ObjectRecord{}, 0, &bucketError{fmt.Errorf("commit %s: %w", j.key, err)}
	}
	x.metrics.transfer(j.domain, time.Since(start).Seconds())
	return x.record(j, dl, p.Size(), hex.EncodeToString(sha.Sum(nil)), ctype), objUploaded, nil
}

// putOptions says what the bucket is to enforce. An exact length (the
// response's Content-Length, which the publisher's listed size must not
// contradict) becomes Size; with it, a publisher md5 becomes ContentMD5,
// and then nothing is left to check between Put and Commit (the content
// type was checked before), so the bucket may write the object through.
// Only an md5 allows that: the store checks it (Content-MD5), while a
// store cannot be trusted to refuse a body cut short (bucket/s3's
// put_stream.go), so the other checksums are checked here before Commit.
func putOptions(o sources.Object, contentLength int64, ctype string) bucket.PutOptions {
	opts := bucket.PutOptions{SizeHint: max(o.Size, 0), ContentType: ctype}
	switch {
	case contentLength > 0 && (o.Size < 0 || o.Size == contentLength):
		opts.Size = contentLength
	case contentLength < 0 && o.Size > 0:
		opts.Size = o.Size
	}
	if opts.SizeHint == 0 {
		opts.SizeHint = max(contentLength, 0)
	}
	if opts.Size > 0 && o.Checksum != nil && o.Checksum.Algo == "md5" {
		if sum, err := hex.DecodeString(o.Checksum.Value); err == nil && len(sum) == md5.Size {
			opts.ContentMD5, opts.WriteThrough = sum, true
		}
	}
	return opts
}

// attemptHashes returns the sha256 of every object, for the manifest, and
// the hash of the publisher's checksum to compare before Commit; pub is nil
// when there is none, or when the bucket enforces it (opts.ContentMD5).
func attemptHashes(o sources.Object, opts bucket.PutOptions) (sha, pub hash.Hash, all []io.Writer, err error) {
	sha = sha256.New()
	all = []io.Writer{sha}
	switch {
	case o.Checksum == nil, len(opts.ContentMD5) > 0:
	case o.Checksum.Algo == "sha256":
		pub = sha
	default:
		if pub, err = newHash(o.Checksum.Algo); err != nil {
			return nil, nil, nil, err
		}
		all = append(all, pub)
	}
	return sha, pub, all, nil
}

// putError says why a Put failed: the run's cancellation, a stall, the
// source side (a broken download, a budget) or else the bucket.
func putError(ctx, octx context.Context, err error) error {
	var te *transientError
	var be *budgetError
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(context.Cause(octx), errStalled):
		return &transientError{errStalled}
	case errors.As(err, &te), errors.As(err, &be):
		return err
	case errors.Is(err, bucket.ErrDigestMismatch):
		return &mismatchError{sources.ReasonChecksumMismatch, err.Error()}
	case errors.Is(err, bucket.ErrSizeMismatch):
		return &mismatchError{sources.ReasonSizeMismatch, err.Error()}
	}
	return &bucketError{err}
}

// checkStaged compares what the bucket staged with what was read and
// with what the publisher announced; nil means it may be committed.
func checkStaged(staged, read int64, o sources.Object, pub hash.Hash) *mismatchError {
	switch {
	case staged != read:
		return &mismatchError{sources.ReasonSizeMismatch, fmt.Sprintf("bucket staged %d bytes, %d were read", staged, read)}
	case o.Size >= 0 && staged != o.Size:
		return &mismatchError{sources.ReasonSizeMismatch, fmt.Sprintf("got %d bytes, publisher lists %d", staged, o.Size)}
	case pub != nil:
		got, want := hex.EncodeToString(pub.Sum(nil)), strings.ToLower(o.Checksum.Value)
		if got != want {
			return &mismatchError{sources.ReasonChecksumMismatch, fmt.Sprintf("%s %s, publisher lists %s", o.Checksum.Algo, got, want)}
		}
	}
	return nil
}

func (x *transfer) abort(ctx context.Context, p bucket.Pending, key string) {
	if err := p.Abort(context.WithoutCancel(ctx)); err != nil {
		x.log.Warn("aborting a staged object failed", "key", key, "err", err)
	}
}

// record is the manifest record of a committed object. The publisher's
// validators from the response win over the listing's.
func (x *transfer) record(j objectJob, dl *download, size int64, sha256hex, ctype string) ObjectRecord {
	o := j.obj
	rec := ObjectRecord{
		Key: j.key, SourceURL: x.red.String(redact.URLWithQuery(o.URL)), Size: size, SHA256: sha256hex,
		PublisherChecksum: o.Checksum, SourceETag: dl.etag, LastModified: dl.lastModified,
		ContentType: ctype, RetrievedAt: x.now().UTC(), RunID: x.runID,
	}
	if rec.SourceETag == "" {
		rec.SourceETag = o.ETag
	}
	if rec.LastModified == "" && !o.LastModified.IsZero() {
		rec.LastModified = o.LastModified.UTC().Format(http.TimeFormat)
	}
	return rec
}

func newHash(algo string) (hash.Hash, error) {
	switch algo {
	case "sha256":
		return sha256.New(), nil
	case "md5":
		return md5.New(), nil
	case "sha1":
		return sha1.New(), nil
	case "sha512":
		return sha512.New(), nil
	}
	return nil, fmt.Errorf("unsupported publisher checksum algorithm %q", algo)
}
