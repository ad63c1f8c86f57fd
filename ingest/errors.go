package ingest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/astroingest/astroingest/sources"
)

// EntryError is why one entry did not finish. It unwraps to the cause.
type EntryError struct {
	Reason string
	Detail string
	Err    error
}

func (e *EntryError) Error() string {
	if e.Detail != "" {
		return e.Reason + ": " + e.Detail
	}
	return e.Reason
}

func (e *EntryError) Unwrap() error { return e.Err }

// StatusError is a non-success HTTP response to a download.
type StatusError struct {
	Host string
	Code int
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s answered HTTP %d %s", e.Host, e.Code, http.StatusText(e.Code))
}

// mismatchError is a staged object whose size or digest disagrees with what
// the publisher announced.
type mismatchError struct {
	reason string
	detail string
}

func (e *mismatchError) Error() string { return e.detail }

// bucketError marks a failure of the storage side, as opposed to the source.
type bucketError struct{ err error }

func (e *bucketError) Error() string { return "bucket: " + e.err.Error() }
func (e *bucketError) Unwrap() error { return e.err }

// budgetError means a byte budget stopped a download.
type budgetError struct{ detail string }

func (e *budgetError) Error() string { return e.detail }

// classify maps an error to a failure reason. Reasons set by a kind through
// sources.FetchError win; then our own error types; then HTTP status; then
// network timeouts.
func classify(err error) string {
	var ee *EntryError
	if errors.As(err, &ee) {
		return ee.Reason
	}
	if r := sources.ReasonOf(err); r != "" {
		return r
	}
	var me *mismatchError
	if errors.As(err, &me) {
		return me.reason
	}
	var re *redirectError
	if errors.As(err, &re) {
		return re.reason
	}
	var te *typeError
	if errors.As(err, &te) {
		return sources.ReasonUnexpectedContentType
	}
	var be *budgetError
	if errors.As(err, &be) {
		return sources.ReasonBudgetExceeded
	}
	var bk *bucketError
	if errors.As(err, &bk) {
		return sources.ReasonBucketError
	}
	var se *StatusError
	if errors.As(err, &se) {
		return sources.StatusReason(se.Code)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errStalled) {
		return sources.ReasonTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return sources.ReasonTimeout
	}
	if isNetworkError(err) {
		return sources.ReasonNetwork
	}
	return sources.ReasonOther
}
