package s3

import (
	"errors"
	"net/http"
	"testing"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/astroingest/astroingest/bucket"
)

// Which answers to a conditional commit mean that the condition did not
// hold; the same answers to an unconditional commit never do.
func TestPreconditionFailed(t *testing.T) {
	code := func(c string) error { return &smithy.GenericAPIError{Code: c} }
	// status is code as it comes off the wire, with its HTTP status.
	status := func(n int, c string) error {
		return &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: n}}, Err: code(c)}
	}
	ifMatch := bucket.PutOptions{IfMatch: "abc"}
	ifNone := bucket.PutOptions{IfNoneMatch: true}
	tests := []struct {
		name string
		err  error
		opts bucket.PutOptions
		want bool
	}{
		{"412 to If-None-Match", code("PreconditionFailed"), ifNone, true},
		{"412 to If-Match", code("PreconditionFailed"), ifMatch, true},
		{"409 ConditionalRequestConflict", code("ConditionalRequestConflict"), ifNone, true},
		{"NoSuchKey to If-Match", code("NoSuchKey"), ifMatch, true},
		{"NoSuchKey to If-None-Match", code("NoSuchKey"), ifNone, false},
		{"a bare 412", status(412, ""), ifMatch, true},
		{"a 404 NoSuchKey to If-Match", status(404, "NoSuchKey"), ifMatch, true},
		{"a vanished upload (404 NoSuchUpload)", status(404, "NoSuchUpload"), ifMatch, false},
		{"a server error", code("InternalError"), ifMatch, false},
		{"412 without a condition", code("PreconditionFailed"), bucket.PutOptions{}, false},
		{"a network error", errors.New("connection reset"), ifMatch, false},
	}
	for _, tt := range tests {
		if got := preconditionFailed(tt.err, tt.opts); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
