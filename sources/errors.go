package sources

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
)

// Failure reasons a kind attaches to its errors. The engine records them in
// run records and as the reason label of entry_failures_total, so they are a
// closed, low-cardinality set.
const (
	ReasonAuthMissing     = "auth_missing"     // credential absent or refused (401/403)
	ReasonLicenceRequired = "licence_required" // the account must accept a licence first
	ReasonHTTP404         = "http_404"         // 404 or 410
	ReasonHTTP4xx         = "http_4xx"         // any other client error
	ReasonHTTP5xx         = "http_5xx"
	ReasonTimeout         = "timeout"      // network timeout or a job that never finished
	ReasonJobFailed       = "job_failed"   // the service ran the request and reported failure
	ReasonBadResponse     = "bad_response" // the reply did not follow the service's protocol
)

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
