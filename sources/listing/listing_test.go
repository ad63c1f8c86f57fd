package listing

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/astroingest/astroingest/sources"
)

func TestGet(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			_, _ = w.Write([]byte("0123456789abcdef"))
		case "/busy":
			http.Error(w, "busy", http.StatusServiceUnavailable)
		case "/locked":
			http.Error(w, "no", http.StatusForbidden)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	for _, tc := range []struct {
		path   string
		limit  int64
		want   string // body, or the error's reason
		errMsg string
	}{
		{"/ok", MaxBytes, "0123456789abcdef", ""},
		{"/ok", 16, "0123456789abcdef", ""},
		{"/ok", 10, sources.ReasonBadResponse, "GET " + srv.URL + "/ok: listing larger than 10 bytes"},
		{"/missing", MaxBytes, sources.ReasonHTTP404, "GET " + srv.URL + "/missing: 404 Not Found"},
		{"/busy", MaxBytes, sources.ReasonHTTP5xx, "GET " + srv.URL + "/busy: 503 Service Unavailable"},
		{"/locked", MaxBytes, sources.ReasonAuthMissing, "GET " + srv.URL + "/locked: 403 Forbidden"},
	} {
		body, _, err := get(context.Background(), srv.Client(), srv.URL+tc.path, tc.limit)
		if tc.errMsg == "" {
			if err != nil || string(body) != tc.want {
				t.Errorf("%s (limit %d): %q, %v; want %q", tc.path, tc.limit, body, err, tc.want)
			}
			continue
		}
		var fe *sources.FetchError
		if !errors.As(err, &fe) || fe.Reason != tc.want || err.Error() != tc.errMsg {
			t.Errorf("%s (limit %d): error %v, want reason %s and %q", tc.path, tc.limit, err, tc.want, tc.errMsg)
		}
	}
	if _, err := Get(context.Background(), srv.Client(), "http://a b/"); sources.ReasonOf(err) != sources.ReasonBadResponse || !strings.Contains(err.Error(), `bad URL "http://a b/"`) {
		t.Errorf("bad URL: %v", err)
	}
}

// A login page where a checksum file or table was expected is refused,
// naming what the page says; a listing that is a page may be one.
func TestGetRefusesPages(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<html><head><title>Sign in to Earthdata</title></head><body>...</body></html>")
	}))
	defer srv.Close()
	_, err := Get(context.Background(), srv.Client(), srv.URL+"/md5sums.txt")
	var fe *sources.FetchError
	if !errors.As(err, &fe) || fe.Reason != sources.ReasonUnexpectedContentType || !strings.Contains(err.Error(), `"Sign in to Earthdata"`) {
		t.Fatalf("Get of a login page: %v", err)
	}
	if body, err := GetPage(context.Background(), srv.Client(), srv.URL+"/dir/"); err != nil || !strings.Contains(string(body), "<title>") {
		t.Fatalf("GetPage: %q, %v", body, err)
	}
}
