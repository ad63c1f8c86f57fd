package s3

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/astroingest/astroingest/bucket"
)

// PresignGet returns a SigV4 query-signed GET URL for key that works for
// expires, without credentials, for whoever holds it. It signs locally
// and sends no request, so it neither proves that the object exists nor
// is counted anywhere. The URL is a bearer secret until it expires: it is
// returned, never logged, and errors name only the key.
func (b *Bucket) PresignGet(ctx context.Context, key string, expires time.Duration) (string, error) {
	if err := bucket.ValidateKey(key); err != nil {
		return "", fmt.Errorf("s3: presign %s: %w", key, err)
	}
	if err := bucket.CheckPresignExpiry(expires); err != nil {
		return "", fmt.Errorf("s3: presign %s: %w", key, err)
	}
	req, err := b.presign.PresignGetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(b.bucket),
		Key:    aws.String(key),
	}, s3.WithPresignExpires(expires))
	if err != nil {
		return "", fmt.Errorf("s3: presign %s: %w", key, err)
	}
	return req.URL, nil
}
