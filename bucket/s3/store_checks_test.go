package s3_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/astroingest/astroingest/bucket/buckettest"
	"github.com/astroingest/astroingest/internal/versitygw"
)

// brokenReader is a source that fails after some bytes.
type brokenReader struct {
	r     io.Reader
	after int
	n     int
}

func (b *brokenReader) Read(p []byte) (int, error) {
	if b.n >= b.after {
		return 0, io.ErrClosedPipe
	}
	p = p[:min(len(p), b.after-b.n)]
	n, err := b.r.Read(p)
	b.n += n
	return n, err
}

// TestStoreEnforces records what the store itself refuses on a PutObject
// with an unsigned, unseekable body, as the written-through path sends it:
// that path's guarantee rests on these answers (see put_stream.go). It
// goes around the code under test, with a plain SDK client. stored is the
// size versitygw keeps, -1 for none: it keeps the bytes it got of a body
// cut short, which is why the length alone is not trusted, and refuses
// every body that fails Content-MD5, cut short or not.
func TestStoreEnforces(t *testing.T) {
	srv := versitygw.Start(t)
	ctx := context.Background()
	const size = 100_000
	data := buckettest.Data(size, 5)
	other := buckettest.Data(size, 6)
	md5Of := func(p []byte) *string { s := md5.Sum(p); return aws.String(base64.StdEncoding.EncodeToString(s[:])) }
	sha256Of := func(p []byte) *string {
		s := sha256.Sum256(p)
		return aws.String(base64.StdEncoding.EncodeToString(s[:]))
	}
	withMD5 := func(in *awss3.PutObjectInput) { in.ContentMD5 = md5Of(data) }
	short := func() io.Reader { return onlyReader{bytes.NewReader(data[:size-1])} }
	broken := func(after int) func() io.Reader {
		return func() io.Reader { return &brokenReader{r: bytes.NewReader(data), after: after} }
	}
	whole := func() io.Reader { return onlyReader{bytes.NewReader(data)} }
	for _, tc := range []struct {
		name   string
		body   func() io.Reader
		mod    func(*awss3.PutObjectInput)
		stored int64
	}{
		{"exact", whole, nil, size},
		{"right-md5", whole, withMD5, size},
		{"wrong-md5", whole, func(in *awss3.PutObjectInput) { in.ContentMD5 = md5Of(other) }, -1},
		{"wrong-sha256", whole, func(in *awss3.PutObjectInput) { in.ChecksumSHA256 = sha256Of(other) }, -1},
		{"short-body", short, nil, size - 1},
		{"read-error", broken(size / 2), nil, size / 2},
		{"short-body-md5", short, withMD5, -1},
		{"read-error-md5", broken(size / 2), withMD5, -1},
		{"read-error-at-last-byte-md5", broken(size - 1), withMD5, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "enforce/" + tc.name
			in := &awss3.PutObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String(key), Body: tc.body(), ContentLength: aws.Int64(size)}
			if tc.mod != nil {
				tc.mod(in)
			}
			_, err := srv.Client().PutObject(ctx, in, awss3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware))
			head, herr := srv.Client().HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(srv.Bucket), Key: aws.String(key)})
			got := int64(-1)
			if herr == nil {
				got = aws.ToInt64(head.ContentLength)
			}
			if got != tc.stored {
				t.Errorf("PutObject: %v; versitygw stores %d bytes, want %d (-1: none)", err, got, tc.stored)
			}
			if (err == nil) != (tc.stored == size) {
				t.Errorf("PutObject: %v", err)
			}
		})
	}
}
