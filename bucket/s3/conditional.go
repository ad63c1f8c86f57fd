package s3

import (
	"errors"
	"io/fs"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"

	"github.com/astroingest/astroingest/bucket"
)

// Conditional writes: bucket.PutOptions' IfMatch and IfNoneMatch become the
// If-Match and If-None-Match headers of the request that commits, the
// PutObject of a small object or the CompleteMultipartUpload of a large
// one. S3, R2 and versitygw evaluate them atomically with the write.

// conditions returns the headers of opts' write condition; nil for none.
// The ETag is sent quoted, as HTTP has it; the services accept that form.
func conditions(opts bucket.PutOptions) (ifMatch, ifNoneMatch *string) {
	if opts.IfMatch != "" {
		ifMatch = aws.String(`"` + opts.IfMatch + `"`)
	}
	if opts.IfNoneMatch {
		ifNoneMatch = aws.String("*")
	}
	return ifMatch, ifNoneMatch
}

// preconditionFailed reports whether err, the answer to a commit request
// sent with opts' condition, says that the condition did not hold:
//
//   - 412 PreconditionFailed: the object exists (If-None-Match) or has
//     another ETag (If-Match);
//   - 409 ConditionalRequestConflict: R2 and S3, when another conditional
//     write to the key is in flight; the other writer wins;
//   - 404 NoSuchKey with If-Match: S3 and versitygw (EvaluateObjectPut-
//     Preconditions) answer so when there is no object to match.
func preconditionFailed(err error, opts bucket.PutOptions) bool {
	if opts.IfMatch == "" && !opts.IfNoneMatch {
		return false
	}
	var ae smithy.APIError
	switch {
	case httpStatus(err) == http.StatusPreconditionFailed,
		errors.As(err, &ae) && (ae.ErrorCode() == "PreconditionFailed" || ae.ErrorCode() == "ConditionalRequestConflict"):
		return true
	case opts.IfMatch != "" && errors.Is(mapErr(err), fs.ErrNotExist) && !isNoSuchUpload(err):
		// (A vanished multipart upload is a 404 too, and no answer to
		// the condition.)
		return true
	}
	return false
}
