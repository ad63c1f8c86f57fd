// Package bucket is the storage layer that every mirrored byte goes through.
// It knows nothing of sources. Backends live in subpackages (fs, mem, s3) and
// all of them pass the conformance suite in bucket/buckettest.
//
// Contracts shared by every backend:
//   - A Put never makes a partial object visible. It stages the whole stream
//     and returns a Pending; the object appears only when Pending.Commit
//     succeeds, and Pending.Abort discards it without a trace (no temp file,
//     no unfinished multipart upload).
//   - A Put given the stream's exact length (PutOptions.Size) or MD5
//     (ContentMD5) fails, with nothing visible, when the stream differs
//     (ErrSizeMismatch, ErrDigestMismatch).
//   - The one exception to "visible only at Commit" is opt-in: with
//     PutOptions.WriteThrough a backend may write the object during Put,
//     when the store itself refuses a stream that differs from Size and
//     ContentMD5, so that nothing partial or unverified is ever visible
//     even then (bucket/s3 does, for one PutObject with Content-MD5). The
//     caller asks for it only when it has nothing left to check between
//     Put and Commit.
//   - Missing objects are reported with an error that matches fs.ErrNotExist.
//   - A Commit may be conditional (PutOptions.IfMatch, IfNoneMatch): the
//     condition is checked atomically with the commit, against every other
//     writer of the key, in this process and in others; when it does not
//     hold, Commit fails with ErrPrecondition, the old object (if any) is
//     left as it was and nothing stays staged.
//   - All methods are safe for concurrent use.
package bucket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"
	"time"
)

// ErrPrecondition is Commit's error (errors.Is) when the condition of a
// conditional Put (PutOptions.IfMatch or IfNoneMatch) does not hold.
var ErrPrecondition = errors.New("precondition failed")

// ErrExists is CreateIfAbsent's error (errors.Is) when the key is already
// present. It comes with ErrPrecondition, which it is a case of.
var ErrExists = errors.New("object already exists")

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Key         string
	Size        int64
	ETag        string
	ModTime     time.Time
	ContentType string
	// Metadata is user metadata (x-amz-meta-*). Keys are lower case.
	Metadata map[string]string
}

// PutOptions tune a Put. The zero value is valid.
type PutOptions struct {
	// SizeHint is the expected length when the source announced one, 0 when
	// unknown. Backends use it to pick part sizes; it is not a promise.
	SizeHint int64
	// Size, when > 0, is the stream's exact length, a promise: Put fails
	// with ErrSizeMismatch, and nothing visible, when the stream ends
	// before or after it. It stands in for SizeHint when that is 0.
	Size int64
	// ContentMD5, when set, is the MD5 digest (16 bytes) the stream must
	// have, for example the publisher's: Put fails with
	// ErrDigestMismatch, and nothing visible, when it differs. bucket/s3
	// also sends it as Content-MD5, so the store checks what it received.
	ContentMD5 []byte
	// WriteThrough lets the backend write the object during Put, not at
	// Commit, where it can do so with nothing partial or unverified ever
	// visible (see the package doc); it saves holding the object in
	// memory and a round trip after it. The caller sets it only when it
	// would commit whatever Put accepts: Size, ContentMD5 and everything
	// else it checks are settled before Put returns. When the backend did
	// write through, a failed write condition fails Put itself (with
	// ErrPrecondition), Commit only reports the object and cannot fail,
	// and Abort returns ErrVisible. Backends that cannot write through
	// ignore it.
	WriteThrough bool

	ContentType string
	Metadata    map[string]string

	// IfMatch, when not empty, makes Commit conditional: it commits only if
	// an object exists under the key and its ETag, as Stat, List and
	// Commit return it, equals IfMatch. A missing object fails the
	// condition.
	IfMatch string
	// IfNoneMatch makes Commit conditional: it commits only if no object
	// exists under the key. It may not be combined with IfMatch.
	//
	// A remote backend retries a request whose answer was lost, and the
	// retry of a conditional write that did land fails its condition
	// against the write itself: ErrPrecondition then does not prove that
	// another writer came first. A caller for whom it matters compares what
	// the key holds with what it wrote (ingest's leases do).
	IfNoneMatch bool
}

// CheckConditions is the check every backend's Put makes of opts' write
// conditions before it stages anything: IfMatch and IfNoneMatch together
// can never hold, and S3 refuses them as "not implemented".
func CheckConditions(opts PutOptions) error {
	if opts.IfMatch != "" && opts.IfNoneMatch {
		return errors.New("IfMatch and IfNoneMatch may not be combined")
	}
	return nil
}

// Range selects bytes [Offset, Offset+Length). Length < 0 means to the end.
type Range struct {
	Offset int64
	Length int64
}

// Pending is a fully staged object that is not yet visible. Exactly one of
// Commit or Abort must be called; both are safe to call after the other
// (the second is a no-op returning nil for Abort, an error for Commit).
type Pending interface {
	// Size is the number of bytes staged.
	Size() int64
	// Commit makes the object visible atomically.
	Commit(ctx context.Context) (ObjectInfo, error)
	// Abort discards the staged bytes. It should be called with a context
	// that is not already cancelled (for example context.WithoutCancel) so
	// that cleanup still reaches the backend after an interruption.
	Abort(ctx context.Context) error
}

// Reader is the read side of a Bucket, in the manner of thanos'
// BucketReader. Commands that must not write (plan, verify, --dry-run) hold
// a Reader, so a write there is a compile error, not only a run-time one.
// Implementations are safe for concurrent use.
type Reader interface {
	// Stat returns the object's info, or an error matching fs.ErrNotExist.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// Open reads the object, or the given range of it when rng is non-nil.
	Open(ctx context.Context, key string, rng *Range) (io.ReadCloser, error)
	// List yields every object whose key starts with prefix, in lexical
	// (byte) order of key. Listing stops at the first error, which is yielded.
	List(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error]
}

// Bucket is the interface every backend implements: the Reader and the
// writes. Implementations are safe for concurrent use.
type Bucket interface {
	Reader
	// Put reads r to EOF and stages it under key. If reading r fails or ctx
	// is cancelled, Put aborts what it staged and returns the error; nothing
	// becomes visible and no Pending is returned.
	Put(ctx context.Context, key string, r io.Reader, opts PutOptions) (Pending, error)
	// Delete removes the object. Deleting a missing object is not an error.
	Delete(ctx context.Context, key string) error
}

// CreateIfAbsent writes data under key only if no object exists there,
// atomically with respect to concurrent callers: exactly one of several
// racing callers succeeds, the rest get an error matching ErrExists (and
// ErrPrecondition). It is a Put with IfNoneMatch, so that the backends
// have one conditional write to get right, not two; opts' own conditions
// are replaced.
func CreateIfAbsent(ctx context.Context, b Bucket, key string, data []byte, opts PutOptions) error {
	opts.IfMatch, opts.IfNoneMatch = "", true
	opts.SizeHint = int64(len(data))
	p, err := b.Put(ctx, key, bytes.NewReader(data), opts)
	if err != nil {
		return err
	}
	if _, err := p.Commit(ctx); err != nil {
		// A failed condition leaves nothing staged; any other failure may.
		if aerr := p.Abort(context.WithoutCancel(ctx)); aerr != nil {
			err = errors.Join(err, aerr)
		}
		if errors.Is(err, ErrPrecondition) {
			return fmt.Errorf("%w: %w", ErrExists, err)
		}
		return err
	}
	return nil
}

// StaleCleaner is implemented by backends that can leave staged data behind
// when a process dies without aborting (a kill -9): unfinished multipart
// uploads, temp files. CleanStale removes those started before cutoff under
// prefix and returns how many it removed.
type StaleCleaner interface {
	CleanStale(ctx context.Context, prefix string, cutoff time.Time) (int, error)
}

// NormalizeMetadata lower-cases user metadata keys, as S3 does on the wire,
// so every backend returns the same map for the same Put.
func NormalizeMetadata(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}

// ContextReader makes a read fail once ctx is done, so a Put that copies a
// body stops at cancellation even when the body itself would not.
func ContextReader(ctx context.Context, r io.Reader) io.Reader { return ctxReader{ctx, r} }

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// As returns the first bucket of type T found by following b's decorators
// inward through their Unwrap() Bucket methods, starting with b itself, as
// restic's AsBackend does. Tests use it to reach a backend's own methods
// (mem's Staged, fs's Root) under wrappers. It is safe for concurrent use.
func As[T any](b Reader) (T, bool) {
	for b != nil {
		if t, ok := b.(T); ok {
			return t, true
		}
		w, ok := b.(interface{ Unwrap() Bucket })
		if !ok {
			break
		}
		b = w.Unwrap()
	}
	var zero T
	return zero, false
}

// ReadOnly is b seen through its read side only, for commands that must
// not write (plan, verify, --dry-run): the value is a Reader and nothing
// more, so no type assertion turns it back into a Bucket by accident. As
// still finds the capabilities of what it wraps (a presigner, say)
// through Unwrap. Safe for concurrent use when b is.
func ReadOnly(b Reader) Reader { return readOnly{b} }

type readOnly struct{ r Reader }

func (o readOnly) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	return o.r.Stat(ctx, key)
}
func (o readOnly) Open(ctx context.Context, key string, rng *Range) (io.ReadCloser, error) {
	return o.r.Open(ctx, key, rng)
}
func (o readOnly) List(ctx context.Context, prefix string) iter.Seq2[ObjectInfo, error] {
	return o.r.List(ctx, prefix)
}

// Unwrap returns the wrapped bucket for As, nil when it is only a Reader.
func (o readOnly) Unwrap() Bucket {
	b, _ := o.r.(Bucket)
	return b
}
