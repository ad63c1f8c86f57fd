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
	"mime"
	"net/http"
	"strings"

	"github.com/astroingest/astroingest/sources"
)

// MaxBytes caps a listing document read into memory; a larger one is
// refused with an error rather than exhausting memory.
const MaxBytes = 256 << 20

// Get fetches a listing document that is not a web page (a checksum
// file, a table, a script, XML) with GET and returns its body, at most
// MaxBytes. Non-2xx statuses become a *sources.FetchError with the reason
// for that status; an HTML answer (a login or error page in place of the
// document) is refused with unexpected_content_type, quoting its title.
func Get(ctx context.Context, c *http.Client, url string) ([]byte, error) {
	body, ctype, err := get(ctx, c, url, MaxBytes)
	if err == nil && isHTML(ctype) {
		return nil, &sources.FetchError{Reason: sources.ReasonUnexpectedContentType,
			Detail: fmt.Sprintf("GET %s: answered an HTML page (%s) where a listing was expected: %q", url, ctype, pageTitle(body))}
	}
	return body, err
}

// GetPage is Get for a listing that is a web page (a publisher's index
// page, a directory listing).
func GetPage(ctx context.Context, c *http.Client, url string) ([]byte, error) {
	body, _, err := get(ctx, c, url, MaxBytes)
	return body, err
}

func isHTML(ctype string) bool {
	mt, _, _ := mime.ParseMediaType(ctype)
	mt = strings.ToLower(mt)
	return mt == "text/html" || mt == "application/xhtml+xml"
}

// pageTitle is what a page calls itself: its <title>, else its start.
func pageTitle(body []byte) string {
	s := string(body[:min(len(body), 4096)])
	if i := strings.Index(strings.ToLower(s), "<title>"); i >= 0 {
		rest := s[i+len("<title>"):]
		if j := strings.Index(strings.ToLower(rest), "</title>"); j >= 0 {
			return strings.TrimSpace(rest[:j])
		}
	}
	return strings.TrimSpace(s[:min(len(s), 120)])
}

// Open fetches a listing document with GET and returns its body to read
// as a stream, for kinds that parse a listing too big to hold (see
// sources.Lister). Statuses map to failure reasons as in Get. The caller
// closes the body.
func Open(ctx context.Context, c *http.Client, url string) (io.ReadCloser, error) {
	resp, err := open(ctx, c, url)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

func open(ctx context.Context, c *http.Client, url string) (*http.Response, error) {
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
	return resp, nil
}

func get(ctx context.Context, c *http.Client, url string, limit int64) ([]byte, string, error) {
	resp, err := open(ctx, c, url)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	ctype := resp.Header.Get("Content-Type")
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, "", fmt.Errorf("GET %s: read body: %w", url, err)
	}
	if int64(len(body)) > limit {
		return nil, "", &sources.FetchError{Reason: sources.ReasonBadResponse, Detail: fmt.Sprintf("GET %s: listing larger than %d bytes", url, limit)}
	}
	return body, ctype, nil
}
