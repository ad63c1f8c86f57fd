package sources

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
)

// Failure reasons: the closed set recorded in run records and as the reason
// label of entry_failures_total (DESIGN.md, "Failure reasons"). sources owns
// it: kinds attach a reason to their errors through FetchError, and the
// engine uses the same constants for the failures it finds itself. The set
// is closed so that the metric's cardinality stays bounded; a new reason is
// added here, to Reasons and to DESIGN.md together. Constants are safe to use
// from anywhere.
const (
	// ReasonHTTP404 is a 404 or 410 answer: the file is gone or never was.
	ReasonHTTP404 = "http_404"
	// ReasonHTTP4xx is any other client error status.
	ReasonHTTP4xx = "http_4xx"
	// ReasonHTTP5xx is a server error status, after the retries.
	ReasonHTTP5xx = "http_5xx"
	// ReasonTimeout is a network timeout, a stalled transfer, or a job that
	// never finished.
	ReasonTimeout = "timeout"
	// ReasonChecksumMismatch is a downloaded object whose digest differs
	// from the publisher's checksum.
	ReasonChecksumMismatch = "checksum_mismatch"
	// ReasonSizeMismatch is a downloaded object whose size differs from the
	// size the publisher announced.
	ReasonSizeMismatch = "size_mismatch"
	// ReasonAuthMissing is a credential that is absent or was refused (401,
	// 403).
	ReasonAuthMissing = "auth_missing"
	// ReasonLicenceRequired is an account that must accept a licence on the
	// publisher's portal first.
	ReasonLicenceRequired = "licence_required"
	// ReasonGated is an entry on a gated host whose gate variable is not set.
	ReasonGated = "gated"
	// ReasonBudgetExceeded is a family's or the run's byte budget stopping
	// a download.
	ReasonBudgetExceeded = "budget_exceeded"
	// ReasonJobFailed is a service that ran the request and reported failure.
	ReasonJobFailed = "job_failed"
	// ReasonBucketError is a failure of the storage side, not of the source.
	ReasonBucketError = "bucket_error"
	// ReasonBadResponse is a reply that does not follow the service's
	// protocol or the listing's format.
	ReasonBadResponse = "bad_response"
	// ReasonTooManyRedirects is a redirect chain too long or looping.
	ReasonTooManyRedirects = "too_many_redirects"
	// ReasonUnexpectedContentType is a reply of another type than the one
	// asked for (say an HTML error page for a data file).
	ReasonUnexpectedContentType = "unexpected_content_type"
	// ReasonUnrepresentableName is an object whose name cannot be a bucket
	// key; it is reported per object and the entry is partial.
	ReasonUnrepresentableName = "unrepresentable_name"
	// ReasonLeaseLost is a run that lost its lease while it still had work.
	ReasonLeaseLost = "lease_lost"
	// ReasonChecksumMissing is a publisher's checksum file without a line
	// for the object: reported, never a silent pass.
	ReasonChecksumMissing = "checksum_missing"
	// ReasonNetwork is a DNS failure or a refused or reset connection, after
	// the retries.
	ReasonNetwork = "network"
	// ReasonOther is everything else; it should be rare.
	ReasonOther = "other"
)

// Reasons returns every failure reason, for pre-creating the labels of
// entry_failures_total. The slice is fresh on each call, so callers may keep
// or change it; safe for concurrent use.
func Reasons() []string {
	return []string{
		ReasonHTTP404, ReasonHTTP4xx, ReasonHTTP5xx, ReasonTimeout,
		ReasonChecksumMismatch, ReasonSizeMismatch, ReasonAuthMissing,
		ReasonLicenceRequired, ReasonGated, ReasonBudgetExceeded,
		ReasonJobFailed, ReasonBucketError, ReasonBadResponse,
		ReasonTooManyRedirects, ReasonUnexpectedContentType,
		ReasonUnrepresentableName, ReasonLeaseLost, ReasonChecksumMissing,
		ReasonNetwork, ReasonOther,
	}
}

// FetchError is a classified failure of a kind. Detail is a user-facing
// sentence naming what failed; it must never contain a secret.
type FetchError struct {
	Reason string
	Detail string
	Err    error
}

func (e *FetchError) Error() string {
	if e.Err == nil {
		return e.Detail
	}
	return e.Detail + ": " + e.Err.Error()
}

func (e *FetchError) Unwrap() error { return e.Err }

// ReasonOf is the reason of the first FetchError in err's chain, "" if none.
func ReasonOf(err error) string {
	var fe *FetchError
	if errors.As(err, &fe) {
		return fe.Reason
	}
	return ""
}

// StatusReason maps an HTTP status code to a failure reason.
func StatusReason(code int) string {
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return ReasonAuthMissing
	case code == http.StatusNotFound || code == http.StatusGone:
		return ReasonHTTP404
	case code >= 500:
		return ReasonHTTP5xx
	case code >= 400:
		return ReasonHTTP4xx
	}
	return ReasonBadResponse
}

// TransportError classifies err from an HTTP client's Do, for the kinds
// that speak a service's protocol: cancellation stays unclassified (it is
// not a failure), a network timeout becomes ReasonTimeout, and anything
// else is wrapped as is. what names the request, e.g. "tap: POST <url>".
func TransportError(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", what, ctx.Err())
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &FetchError{Reason: ReasonTimeout, Detail: what, Err: err}
	}
	return fmt.Errorf("%s: %w", what, err)
}
