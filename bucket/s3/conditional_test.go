package s3_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/astroingest/astroingest/internal/versitygw"
)

// answer is what a server said to one request: its HTTP status and S3
// error code, or 200 and "".
type answer struct {
	status int
	code   string
}

func answerOf(err error) answer {
	if err == nil {
		return answer{http.StatusOK, ""}
	}
	var a answer
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		a.status = re.HTTPStatusCode()
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		a.code = ae.ErrorCode()
	}
	return a
}

// TestGatewayConditionalSemantics pins down, with the plain SDK client, how
// the installed versitygw answers conditional writes, which is what
// preconditionFailed maps to bucket.ErrPrecondition and what the backend's
// Commit has to clean up after. If an upgrade of the gateway changes an
// answer, this test says which.
func TestGatewayConditionalSemantics(t *testing.T) {
	srv := versitygw.Start(t)
	c := srv.Client()
	ctx := context.Background()
	bkt := aws.String(srv.Bucket)
	put := func(key, body string, ifMatch, ifNoneMatch *string) (string, error) {
		out, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: bkt, Key: aws.String(key), Body: bytes.NewReader([]byte(body)),
			IfMatch: ifMatch, IfNoneMatch: ifNoneMatch})
		if err != nil {
			return "", err
		}
		return aws.ToString(out.ETag), nil
	}
	etag, err := put("k", "v1", nil, aws.String("*"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		key         string
		ifMatch     *string
		ifNoneMatch *string
		want        answer
	}{
		{"If-None-Match * on a present key", "k", nil, aws.String("*"), answer{412, "PreconditionFailed"}},
		{"If-None-Match * on a missing key", "new", nil, aws.String("*"), answer{200, ""}},
		{"If-Match, wrong ETag", "k", aws.String(`"0123456789abcdef0123456789abcdef"`), nil, answer{412, "PreconditionFailed"}},
		// Not 412: a missing key answers NoSuchKey, as S3 documents.
		{"If-Match on a missing key", "missing", aws.String(etag), nil, answer{404, "NoSuchKey"}},
		{"If-None-Match with an ETag", "k", nil, aws.String(etag), answer{501, "NotImplemented"}},
		{"both headers", "k", aws.String(etag), aws.String("*"), answer{501, "NotImplemented"}},
		// The ETag is matched with or without its quotes.
		{"If-Match, right ETag unquoted", "k", aws.String(etag[1 : len(etag)-1]), nil, answer{200, ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := put(tt.key, "v2", tt.ifMatch, tt.ifNoneMatch)
			if got := answerOf(err); got != tt.want {
				t.Errorf("answer %+v (%v), want %+v", got, err, tt.want)
			}
		})
	}

	// A CompleteMultipartUpload whose condition fails leaves the upload in
	// place with its parts: the backend must abort it itself.
	up, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: bkt, Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	part, err := c.UploadPart(ctx, &awss3.UploadPartInput{Bucket: bkt, Key: aws.String("k"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader([]byte("part")), ContentLength: aws.Int64(4)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: bkt, Key: aws.String("k"), UploadId: up.UploadId,
		IfNoneMatch:     aws.String("*"),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{ETag: part.ETag, PartNumber: aws.Int32(1)}}}})
	if got := answerOf(err); got != (answer{412, "PreconditionFailed"}) {
		t.Errorf("conditional complete on a present key: %+v (%v), want 412 PreconditionFailed", got, err)
	}
	if n := openUploads(t, srv, srv.Bucket); n != 1 {
		t.Errorf("%d uploads after the failed complete, want the 1 still there", n)
	}
}
