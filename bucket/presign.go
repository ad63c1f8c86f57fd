package bucket

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// MaxPresignExpiry is the longest a presigned URL may live: SigV4 caps
// X-Amz-Expires at 7 days, on S3 and on R2 alike.
const MaxPresignExpiry = 7 * 24 * time.Hour

// ErrNoPresign is PresignGet's error for a bucket that cannot presign: only
// a remote S3 API hands out URLs that work without its credentials.
var ErrNoPresign = errors.New("presign needs an s3:// or r2:// bucket")

// Presigner is implemented by backends that can hand out a time-limited
// GET URL for an object, so that a reader (a training pod) fetches it with
// no key of its own. A decorator that rewrites keys (WithPrefix) implements
// it too, so the URL names the object the caller means. The URL carries a
// signature: callers print it where it is wanted and nowhere else (never
// in a log, a metric or an error).
type Presigner interface {
	PresignGet(ctx context.Context, key string, expires time.Duration) (string, error)
}

// PresignGet presigns a GET of key on b, following b's decorators inward
// (As) to the first that presigns. It fails with ErrNoPresign when none
// does, and for an expiry outside (0, MaxPresignExpiry]. It sends no
// request. Safe for concurrent use.
func PresignGet(ctx context.Context, b Reader, key string, expires time.Duration) (string, error) {
	if err := CheckPresignExpiry(expires); err != nil {
		return "", err
	}
	p, ok := As[Presigner](b)
	if !ok {
		return "", ErrNoPresign
	}
	return p.PresignGet(ctx, key, expires)
}

// CheckPresignExpiry accepts what S3 and R2 accept: more than zero, at
// most MaxPresignExpiry. The error does not name a flag; callers do.
func CheckPresignExpiry(expires time.Duration) error {
	if expires <= 0 || expires > MaxPresignExpiry {
		return fmt.Errorf("expiry %s outside (0, %s]: S3 and R2 presign for at most 7 days", expires, MaxPresignExpiry)
	}
	return nil
}

// PresignGet presigns the prefixed key on the bucket under it, which
// is where the object really is.
func (p *prefixed) PresignGet(ctx context.Context, key string, expires time.Duration) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", fmt.Errorf("presign: %w", err)
	}
	return PresignGet(ctx, p.Bucket, p.prefix+key, expires)
}
