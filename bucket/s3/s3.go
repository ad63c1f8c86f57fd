// Package s3 is the bucket backend for any S3 API, including Cloudflare R2
// (the r2:// form of ParseURL). It talks to the service through
// aws-sdk-go-v2's service/s3 client directly, not the transfer manager,
// because a Put must stage everything and complete the multipart upload only
// when the caller commits after verifying the bytes.
//
// R2 compatibility shapes several choices: checksums are computed and
// validated only "when required" (no x-amz-checksum-* headers, no aws-chunked
// trailers; Content-MD5 only on a written-through PutObject, never with an
// SDK checksum, see put_stream.go), every part but the last has the same size,
// addressing is path-style, unfinished multipart uploads are always aborted
// by us, and R2's intermittent 403 SignatureDoesNotMatch on UploadPart is
// retried.
//
// Retries. The SDK's standard retryer tries each request (a HEAD, a GET, a
// list page, one part, the complete, an abort) at most Config.MaxAttempts
// times (DefaultMaxAttempts, 5), on throttling, 5xx answers, connection
// errors and timeouts, with exponential backoff and full jitter of at most
// 20 s between tries; so one request waits at most about
// (MaxAttempts-1) × 20 s in backoff, and ctx cuts that short. The SDK's
// client-side retry quota is off: it would turn a burst of throttling
// during a big backfill into hard failures. UploadPart also retries R2's
// 403 SignatureDoesNotMatch, within the same budget. An abort is repeated
// up to 5 times while ListParts still shows the upload, within 30 s. That
// is all: a body already being read is not retried, and nothing above one
// request (a whole Put, a whole List) is retried here; the caller (ingest)
// owns retries of whole objects.
//
// A *Bucket is safe for concurrent use.
package s3

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/astroingest/astroingest/bucket"
)

// cleanupTimeout bounds an abort issued after the caller's context is gone.
const cleanupTimeout = 30 * time.Second

// Bucket is an S3 or R2 bucket. It has no key prefix of its own: a prefix
// (s3://BUCKET/PREFIX) is applied by bucket.WithPrefix, like any other
// backend's.
type Bucket struct {
	client      *s3.Client
	presign     *s3.PresignClient
	bucket      string
	partSize    int64
	concurrency int
	log         *slog.Logger
	bufs        *bufferPool
	// partRetryer also retries R2's spurious SignatureDoesNotMatch; it is
	// used for UploadPart only, where the same credentials just succeeded
	// for CreateMultipartUpload, so a 403 there cannot be a real auth error.
	partRetryer aws.Retryer
}

var (
	_ bucket.Bucket       = (*Bucket)(nil)
	_ bucket.StaleCleaner = (*Bucket)(nil)
	_ bucket.Presigner    = (*Bucket)(nil)
)

// New checks cfg and builds the client. It sends no request: a wrong bucket
// or credential shows up on first use.
func New(ctx context.Context, cfg Config) (*Bucket, error) {
	_ = ctx // reserved: building the client does no I/O today
	if cfg.Bucket == "" {
		return nil, errors.New("s3: config: bucket name is empty")
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("s3: config for bucket %s: region is empty", cfg.Bucket)
	}
	partSize := cfg.PartSize
	switch {
	case partSize == 0:
		partSize = DefaultPartSize
	case partSize < MinPartSize || partSize > MaxPartSize:
		return nil, fmt.Errorf("s3: config for bucket %s: part size %d outside [%d, %d]", cfg.Bucket, partSize, MinPartSize, MaxPartSize)
	}
	conc, err := orDefault(cfg.Concurrency, DefaultConcurrency)
	if err != nil {
		return nil, fmt.Errorf("s3: config for bucket %s: concurrency %w", cfg.Bucket, err)
	}
	attempts, err := orDefault(cfg.MaxAttempts, DefaultMaxAttempts)
	if err != nil {
		return nil, fmt.Errorf("s3: config for bucket %s: max attempts %w", cfg.Bucket, err)
	}
	creds := cfg.Credentials
	if creds == nil {
		if cfg.AccessKeyID == "" || cfg.SecretAccessKey == "" {
			return nil, fmt.Errorf("s3: config for bucket %s: no credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)", cfg.Bucket)
		}
		creds = credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, string(cfg.SecretAccessKey), string(cfg.SessionToken))
	}
	hc, err := httpClient(cfg.HTTPClient, cfg.CABundle)
	if err != nil {
		return nil, fmt.Errorf("s3: config for bucket %s: %w", cfg.Bucket, err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	b := &Bucket{
		bucket:      cfg.Bucket,
		partSize:    partSize,
		concurrency: conc,
		log:         log,
		bufs:        newBufferPool(int(partSize), conc+1),
	}
	b.partRetryer = newRetryer(attempts, retry.IsErrorRetryableFunc(b.signatureMismatch))

	opts := s3.Options{
		Region:       cfg.Region,
		UsePathStyle: cfg.PathStyle,
		Credentials:  aws.NewCredentialsCache(creds),
		HTTPClient:   hc,
		Retryer:      newRetryer(attempts),
		// Since SDK v1.73 the defaults add CRC32 checksum headers and
		// aws-chunked trailers, which R2 rejects.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
	if cfg.Endpoint != "" {
		opts.BaseEndpoint = aws.String(cfg.Endpoint)
	}
	b.client = s3.New(opts)
	b.presign = s3.NewPresignClient(b.client)
	return b, nil
}

// orDefault returns v, or def when v is 0; a negative v is an error.
func orDefault(v, def int) (int, error) {
	switch {
	case v == 0:
		return def, nil
	case v < 0:
		return 0, fmt.Errorf("%d is negative", v)
	}
	return v, nil
}

// newRetryer is the SDK's standard retryer with maxAttempts tries and
// extra retryable errors, and without the client-side retry quota, which
// would turn a burst of throttling during a big backfill into hard
// failures; backoff and ctx bound the retries instead.
func newRetryer(maxAttempts int, extra ...retry.IsErrorRetryable) aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = maxAttempts
		o.RateLimiter = ratelimit.None
		o.Retryables = append(o.Retryables, extra...)
	})
}

// signatureMismatch marks R2's intermittent 403 SignatureDoesNotMatch as
// retryable and leaves every other error to the standard checks.
func (b *Bucket) signatureMismatch(err error) aws.Ternary {
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "SignatureDoesNotMatch" {
		b.log.Debug("s3: retrying part after SignatureDoesNotMatch", "bucket", b.bucket)
		return aws.TrueTernary
	}
	return aws.UnknownTernary
}

// String names the bucket for logs and errors.
func (b *Bucket) String() string { return "s3://" + b.bucket }

// Stat implements bucket.Bucket.
func (b *Bucket) Stat(ctx context.Context, key string) (bucket.ObjectInfo, error) {
	if err := bucket.ValidateKey(key); err != nil {
		return bucket.ObjectInfo{}, fmt.Errorf("s3: stat %s: %w", key, err)
	}
	out, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b.bucket, Key: aws.String(key)})
	if err != nil {
		return bucket.ObjectInfo{}, fmt.Errorf("s3: stat %s: %w", key, mapErr(err))
	}
	return bucket.ObjectInfo{
		Key:         key,
		Size:        aws.ToInt64(out.ContentLength),
		ETag:        trimETag(out.ETag),
		ModTime:     aws.ToTime(out.LastModified),
		ContentType: aws.ToString(out.ContentType),
		Metadata:    bucket.NormalizeMetadata(out.Metadata),
	}, nil
}

// Open implements bucket.Bucket. A range that starts at or past the end of
// the object reads as empty, as it does for a file.
func (b *Bucket) Open(ctx context.Context, key string, rng *bucket.Range) (io.ReadCloser, error) {
	if err := bucket.ValidateKey(key); err != nil {
		return nil, fmt.Errorf("s3: open %s: %w", key, err)
	}
	in := &s3.GetObjectInput{Bucket: &b.bucket, Key: aws.String(key)}
	if rng != nil {
		if rng.Offset < 0 {
			return nil, fmt.Errorf("s3: open %s: negative range offset %d", key, rng.Offset)
		}
		switch {
		case rng.Length == 0:
			// HTTP cannot express an empty range; check existence only.
			_, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b.bucket, Key: in.Key})
			if err != nil {
				return nil, fmt.Errorf("s3: open %s: %w", key, mapErr(err))
			}
			return io.NopCloser(strings.NewReader("")), nil
		case rng.Length < 0:
			in.Range = aws.String(fmt.Sprintf("bytes=%d-", rng.Offset))
		default:
			in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", rng.Offset, rng.Offset+rng.Length-1))
		}
	}
	out, err := b.client.GetObject(ctx, in)
	if err != nil {
		if rng != nil && httpStatus(err) == http.StatusRequestedRangeNotSatisfiable {
			// 416 means the object exists but is shorter than Offset
			// (S3 answers 416 for any range on an empty object).
			return io.NopCloser(strings.NewReader("")), nil
		}
		return nil, fmt.Errorf("s3: open %s: %w", key, mapErr(err))
	}
	return out.Body, nil
}

// List implements bucket.Bucket with ListObjectsV2, which S3 and R2 return
// in UTF-8 byte order.
func (b *Bucket) List(ctx context.Context, prefix string) iter.Seq2[bucket.ObjectInfo, error] {
	return func(yield func(bucket.ObjectInfo, error) bool) {
		if err := bucket.ValidatePrefix(prefix); err != nil {
			yield(bucket.ObjectInfo{}, fmt.Errorf("s3: list %s: %w", prefix, err))
			return
		}
		p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{
			Bucket: &b.bucket,
			Prefix: aws.String(prefix),
		})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				yield(bucket.ObjectInfo{}, fmt.Errorf("s3: list %s: %w", prefix, mapErr(err)))
				return
			}
			for _, o := range page.Contents {
				info := bucket.ObjectInfo{
					Key:     aws.ToString(o.Key),
					Size:    aws.ToInt64(o.Size),
					ETag:    trimETag(o.ETag),
					ModTime: aws.ToTime(o.LastModified),
				}
				if !yield(info, nil) {
					return
				}
			}
		}
	}
}

// Delete implements bucket.Bucket.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if err := bucket.ValidateKey(key); err != nil {
		return fmt.Errorf("s3: delete %s: %w", key, err)
	}
	_, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b.bucket, Key: aws.String(key)})
	if err != nil {
		if errors.Is(mapErr(err), fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("s3: delete %s: %w", key, mapErr(err))
	}
	return nil
}

// CleanStale implements bucket.StaleCleaner: it aborts multipart uploads
// under prefix that were initiated before cutoff, such as those a killed
// process left behind.
func (b *Bucket) CleanStale(ctx context.Context, prefix string, cutoff time.Time) (int, error) {
	if err := bucket.ValidatePrefix(prefix); err != nil {
		return 0, fmt.Errorf("s3: clean stale %s: %w", prefix, err)
	}
	p := s3.NewListMultipartUploadsPaginator(b.client, &s3.ListMultipartUploadsInput{
		Bucket: &b.bucket,
		Prefix: aws.String(prefix),
	})
	n := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return n, fmt.Errorf("s3: clean stale %s: list multipart uploads: %w", prefix, mapErr(err))
		}
		for _, u := range page.Uploads {
			if u.Initiated == nil || !u.Initiated.Before(cutoff) {
				continue
			}
			key := aws.ToString(u.Key)
			_, err := b.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
				Bucket: &b.bucket, Key: u.Key, UploadId: u.UploadId,
			})
			if err != nil && !isNoSuchUpload(err) {
				return n, fmt.Errorf("s3: clean stale %s: abort upload of %s: %w", prefix, key, mapErr(err))
			}
			if err == nil {
				n++
				b.log.Info("s3: aborted stale multipart upload", "bucket", b.bucket, "key", key, "initiated", *u.Initiated)
			}
		}
	}
	return n, nil
}

// putObjectInput is the PutObject of a whole object, staged (body is the
// part buffer, seekable) or written through (body is the stream itself).
func (b *Bucket) putObjectInput(key string, body io.Reader, size int64, opts bucket.PutOptions) *s3.PutObjectInput {
	in := &s3.PutObjectInput{
		Bucket:        &b.bucket,
		Key:           aws.String(key),
		Body:          body,
		ContentLength: aws.Int64(size),
		Metadata:      bucket.NormalizeMetadata(opts.Metadata),
	}
	if opts.ContentType != "" {
		in.ContentType = aws.String(opts.ContentType)
	}
	in.IfMatch, in.IfNoneMatch = conditions(opts)
	return in
}

// putInfo is what a Commit reports of an object written by PutObject.
func putInfo(key string, size int64, out *s3.PutObjectOutput, opts bucket.PutOptions) bucket.ObjectInfo {
	return bucket.ObjectInfo{
		Key:         key,
		Size:        size,
		ETag:        trimETag(out.ETag),
		ModTime:     responseTime(out.ResultMetadata),
		ContentType: opts.ContentType,
		Metadata:    bucket.NormalizeMetadata(opts.Metadata),
	}
}

// mapErr turns the service's not-found answers into fs.ErrNotExist, says
// what to do about an untrusted certificate, and keeps the rest as they are.
func mapErr(err error) error {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	var ae smithy.APIError
	var ua x509.UnknownAuthorityError
	switch {
	case errors.As(err, &ua):
		// A private CA (a corporate proxy, a local gateway) is trusted
		// only through the bundle; the SDK's own error does not say so.
		return fmt.Errorf("%w (the endpoint's certificate is signed by an unknown authority: set AWS_CA_BUNDLE to the PEM file of its CA)", err)
	case errors.As(err, &nsk), errors.As(err, &nf):
		return fs.ErrNotExist
	case errors.As(err, &ae) && (ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NotFound"):
		return fs.ErrNotExist
	case httpStatus(err) == http.StatusNotFound && !(errors.As(err, &ae) && ae.ErrorCode() == "NoSuchBucket"):
		return fs.ErrNotExist
	}
	return err
}

func isNoSuchUpload(err error) bool {
	var nsu *types.NoSuchUpload
	var ae smithy.APIError
	return errors.As(err, &nsu) || (errors.As(err, &ae) && ae.ErrorCode() == "NoSuchUpload")
}

func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func trimETag(s *string) string { return strings.Trim(aws.ToString(s), `"`) }

// responseTime is the server's Date header, the best available stand-in for
// Last-Modified after a write (S3 does not return it).
func responseTime(md middleware.Metadata) time.Time {
	if resp, ok := awsmiddleware.GetRawResponse(md).(*smithyhttp.Response); ok {
		if t, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
			return t
		}
	}
	return time.Now().UTC().Truncate(time.Second)
}
