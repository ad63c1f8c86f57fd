package ingest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/astroingest/astroingest/sources"
)

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

var _ net.Error = timeoutErr{}

// classify maps every error the engine meets to one closed reason, the
// most specific first, and wrapping never hides it.
func TestClassify(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&EntryError{Reason: sources.ReasonAuthMissing}, sources.ReasonAuthMissing},
		{&sources.FetchError{Reason: sources.ReasonLicenceRequired, Detail: "accept it"}, sources.ReasonLicenceRequired},
		{&sources.FetchError{Reason: sources.ReasonBadResponse, Detail: "not CSV"}, sources.ReasonBadResponse},
		{&mismatchError{sources.ReasonChecksumMismatch, "md5"}, sources.ReasonChecksumMismatch},
		{&budgetError{"full"}, sources.ReasonBudgetExceeded},
		{&bucketError{errors.New("503")}, sources.ReasonBucketError},
		{&StatusError{Host: "h", Code: 404}, sources.ReasonHTTP404},
		{&StatusError{Host: "h", Code: 403}, sources.ReasonAuthMissing},
		{&StatusError{Host: "h", Code: 418}, sources.ReasonHTTP4xx},
		{&StatusError{Host: "h", Code: 502}, sources.ReasonHTTP5xx},
		{context.DeadlineExceeded, sources.ReasonTimeout},
		{errStalled, sources.ReasonTimeout},
		{&net.OpError{Op: "read", Err: timeoutErr{}}, sources.ReasonTimeout},
		{errors.New("something else"), sources.ReasonOther},
	}
	for _, tt := range tests {
		wrapped := fmt.Errorf("climate/x.nc: %w", tt.err)
		if got := classify(wrapped); got != tt.want {
			t.Errorf("classify(%v) = %s, want %s", wrapped, got, tt.want)
		}
	}
}
