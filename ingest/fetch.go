package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/astroingest/astroingest/internal/redact"
	"github.com/astroingest/astroingest/sources"
	"github.com/hashicorp/go-retryablehttp"
)

var errStalled = errors.New("no bytes received within the stall timeout")

// transientError is a download that broke part-way (connection reset, short
// body, stall) and could not be resumed; the object is restarted cleanly.
type transientError struct{ err error }

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

// newRetryClient wraps the polite transport with go-retryablehttp: bounded
// attempts, exponential backoff, Retry-After on 429/503 (capped), and no
// logging of its own (it would print URLs).
func newRetryClient(rt http.RoundTripper, p RetryPolicy) *retryablehttp.Client {
	maxRetryAfter := p.MaxRetryAfter
	c := &retryablehttp.Client{
		HTTPClient:   &http.Client{Transport: rt, CheckRedirect: redirectPolicy},
		RetryWaitMin: p.WaitMin,
		RetryWaitMax: p.WaitMax,
		RetryMax:     p.Attempts - 1,
		CheckRetry:   retryPolicy,
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
		Backoff: func(lo, hi time.Duration, n int, resp *http.Response) time.Duration {
			d := retryablehttp.DefaultBackoff(lo, hi, n, resp)
			return min(d, max(hi, maxRetryAfter))
		},
	}
	return c
}

// retryPolicy is go-retryablehttp's, but for answers that do not change
// on retry: a name that does not resolve (retrying a dead host cost
// seconds per entry), and a redirect refused by redirectPolicy.
func retryPolicy(ctx context.Context, resp *http.Response, err error) (bool, error) {
	var dns *net.DNSError
	var re *redirectError
	switch {
	case errors.As(err, &dns) && dns.IsNotFound:
		return false, err
	case errors.As(err, &re):
		return false, err
	}
	return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
}

// download is an open response to one object request.
type download struct {
	notModified   bool
	body          io.ReadCloser
	contentLength int64 // -1 when unknown
	etag          string
	lastModified  string
	contentType   string
}

// openObject requests the object. cond, when non-nil, makes the request
// conditional on the recorded validators, so an unchanged source answers
// 304 without a body.
func openObject(ctx context.Context, rc *retryablehttp.Client, obj sources.Object, cond *ObjectRecord, maxResumes int) (*download, error) {
	method := obj.Method
	if method == "" {
		method = http.MethodGet
	}
	var body any
	if obj.Body != nil {
		body = obj.Body
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, method, obj.URL, body)
	if err != nil {
		return nil, fmt.Errorf("build request for %s: %w", redact.URL(obj.URL), err)
	}
	// Raw bytes only: a transparently decompressed body would not match the
	// publisher's size or checksum.
	req.Header.Set("Accept-Encoding", "identity")
	if cond != nil {
		if cond.SourceETag != "" {
			req.Header.Set("If-None-Match", cond.SourceETag)
		}
		if cond.LastModified != "" {
			req.Header.Set("If-Modified-Since", cond.LastModified)
		}
	}
	resp, err := rc.Do(req)
	if err != nil {
		return nil, err
	}
	host := req.URL.Hostname()
	switch {
	case resp.StatusCode == http.StatusNotModified && cond != nil:
		drain(resp.Body)
		return &download{notModified: true}, nil
	case resp.StatusCode != http.StatusOK:
		drain(resp.Body)
		return nil, &StatusError{Host: host, Code: resp.StatusCode}
	}
	d := &download{
		contentLength: resp.ContentLength,
		etag:          resp.Header.Get("ETag"),
		lastModified:  resp.Header.Get("Last-Modified"),
		contentType:   resp.Header.Get("Content-Type"),
	}
	r := &resumingBody{ctx: ctx, rc: rc, url: obj.URL, body: resp.Body, total: resp.ContentLength, maxResumes: maxResumes}
	// Resuming needs a validator for If-Range, or a changed file could be
	// spliced from two versions.
	if method == http.MethodGet && strings.EqualFold(resp.Header.Get("Accept-Ranges"), "bytes") {
		r.validator = d.etag
		if r.validator == "" || strings.HasPrefix(r.validator, "W/") {
			r.validator = d.lastModified
		}
	}
	d.body = r
	return d, nil
}

func drain(rc io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(rc, 64<<10))
	rc.Close()
}

// resumingBody reads a response and, when the connection breaks, continues
// with a Range request guarded by If-Range. Without a validator, or when the
// server answers the resume with a full 200 (the file changed), it returns a
// transientError so the caller restarts the object from scratch.
type resumingBody struct {
	ctx        context.Context
	rc         *retryablehttp.Client
	url        string
	body       io.ReadCloser
	n          int64
	total      int64
	validator  string
	resumes    int
	maxResumes int
}

func (r *resumingBody) Read(p []byte) (int, error) {
	for {
		n, err := r.body.Read(p)
		r.n += int64(n)
		if err == io.EOF && r.total >= 0 && r.n < r.total {
			err = io.ErrUnexpectedEOF
		}
		if err == nil || err == io.EOF {
			if err == io.EOF && r.total >= 0 && r.n > r.total {
				return n, &transientError{fmt.Errorf("body longer than Content-Length %d", r.total)}
			}
			return n, err
		}
		if r.ctx.Err() != nil {
			if cause := context.Cause(r.ctx); errors.Is(cause, errStalled) {
				return n, &transientError{cause}
			}
			return n, r.ctx.Err()
		}
		if r.validator == "" || r.resumes >= r.maxResumes {
			return n, &transientError{fmt.Errorf("read body after %d bytes: %w", r.n, err)}
		}
		r.body.Close()
		if rerr := r.resume(); rerr != nil {
			return n, &transientError{fmt.Errorf("resume after %d bytes (read error: %v): %w", r.n, err, rerr)}
		}
		if n > 0 {
			return n, nil
		}
	}
}

func (r *resumingBody) resume() error {
	r.resumes++
	req, err := retryablehttp.NewRequestWithContext(r.ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept-Encoding", "identity")
	req.Header.Set("Range", "bytes="+strconv.FormatInt(r.n, 10)+"-")
	req.Header.Set("If-Range", r.validator)
	resp, err := r.rc.Do(req)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusPartialContent {
		drain(resp.Body)
		return fmt.Errorf("resume answered HTTP %d, not 206", resp.StatusCode)
	}
	var start int64 = -1
	if cr := resp.Header.Get("Content-Range"); strings.HasPrefix(cr, "bytes ") {
		s, _, _ := strings.Cut(strings.TrimPrefix(cr, "bytes "), "-")
		start, _ = strconv.ParseInt(s, 10, 64)
	}
	if start != r.n {
		drain(resp.Body)
		return fmt.Errorf("resume returned range starting at %d, want %d", start, r.n)
	}
	r.body = resp.Body
	return nil
}

func (r *resumingBody) Close() error { return r.body.Close() }
