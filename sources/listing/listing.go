// Package listing fetches the documents a kind reads whole before it knows
// its objects: directory listings, checksum files, manifests, tables and
// download scripts. Every file-tree kind (http, index, manifest) reads them
// through Get, so they share one size cap and one mapping of HTTP statuses
// to failure reasons. Rate limits, credentials and the user agent come from
// the caller's *http.Client. Get is safe for concurrent use.
package listing

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/astroingest/astroingest/sources"
)

// MaxBytes caps a listing document read into memory; a larger one is
// refused with an error rather than exhausting memory.
const MaxBytes = 256 << 20

// Get fetches a listing document with GET and returns its body, at most
// MaxBytes. Non-2xx statuses become a *sources.FetchError with the reason
// for that status.
func Get(ctx context.Context, c *http.Client, url string) ([]byte, error) {
	return get(ctx, c, url, MaxBytes)
}

// Open fetches a listing document with GET and returns its body to read
// as a stream, for kinds that parse a listing too big to hold (see
// sources.Lister). Statuses map to failure reasons as in Get. The caller
// closes the body.
func Open(ctx context.Context, c *http.Client, url string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: fmt.Sprintf("bad URL %q", url), Err: err}
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode/100 != 2 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		return nil, &sources.FetchError{
			Reason: sources.StatusReason(resp.StatusCode),
			Detail: fmt.Sprintf("GET %s: %s", url, resp.Status),
		}
	}
	return resp.Body, nil
}

func get(ctx context.Context, c *http.Client, url string, limit int64) ([]byte, error) {
	rc, err := Open(ctx, c, url)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	body, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: read body: %w", url, err)
	}
	if int64(len(body)) > limit {
		return nil, &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: fmt.Sprintf("GET %s: listing larger than %d bytes", url, limit)}
	}
	return body, nil
}
