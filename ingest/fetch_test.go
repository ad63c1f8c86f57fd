package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/astroingest/astroingest/sources"
)

// cuttingServer serves body; the first cuts responses break the TCP
// connection after cutAt bytes. Range requests are honoured when If-Range
// matches etag; with changed set, a resume gets the whole (new) file.
type cuttingServer struct {
	body    []byte
	etag    string // "" sends no validator
	cutAt   int
	cuts    atomic.Int32
	changed bool
	ranges  atomic.Int32
}

func (s *cuttingServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.etag != "" {
		w.Header().Set("ETag", s.etag)
		w.Header().Set("Accept-Ranges", "bytes")
	}
	if rg := r.Header.Get("Range"); rg != "" && !s.changed && r.Header.Get("If-Range") == s.etag {
		s.ranges.Add(1)
		from, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(rg, "bytes="), "-"))
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", from, len(s.body)-1, len(s.body)))
		w.Header().Set("Content-Length", strconv.Itoa(len(s.body)-from))
		w.WriteHeader(http.StatusPartialContent)
		w.Write(s.body[from:])
		return
	}
	if s.cuts.Add(-1) >= 0 {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n", len(s.body))
		if s.etag != "" {
			fmt.Fprintf(buf, "ETag: %s\r\nAccept-Ranges: bytes\r\n", s.etag)
		}
		buf.WriteString("\r\n")
		buf.Write(s.body[:s.cutAt])
		buf.Flush()
		conn.Close()
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(s.body)))
	w.Write(s.body)
}

func testRetryPolicy() RetryPolicy {
	p := RetryPolicy{WaitMin: time.Millisecond, WaitMax: 5 * time.Millisecond}
	p.defaults()
	return p
}

// A broken body is resumed with Range and If-Range when the server gives a
// validator; without one, or when the file changed, it is a transient
// error for the caller to restart, never bytes spliced from two versions.
func TestResumingBody(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	tests := []struct {
		name       string
		srv        *cuttingServer
		maxResumes int
		wantErr    bool
		wantRanges int32
	}{
		{"resumed once", &cuttingServer{body: body, etag: `"v1"`, cutAt: 1000}, 5, false, 1},
		{"no validator", &cuttingServer{body: body, cutAt: 1000}, 5, true, 0},
		{"changed meanwhile", &cuttingServer{body: body, etag: `"v1"`, cutAt: 1000, changed: true}, 5, true, 0},
		{"no resumes allowed", &cuttingServer{body: body, etag: `"v1"`, cutAt: 1000}, 0, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.srv.cuts.Store(1)
			ts := httptest.NewServer(tt.srv)
			defer ts.Close()
			rc := newRetryClient(http.DefaultTransport, testRetryPolicy())
			dl, err := openObject(context.Background(), rc, sources.Object{URL: ts.URL + "/f", Size: -1}, nil, tt.maxResumes)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(dl.body)
			dl.body.Close()
			var te *transientError
			switch {
			case tt.wantErr && !errors.As(err, &te):
				t.Fatalf("read: %v (%d bytes), want a transientError", err, len(got))
			case !tt.wantErr && (err != nil || !bytes.Equal(got, body)):
				t.Fatalf("read: %v, %d bytes, equal %v", err, len(got), bytes.Equal(got, body))
			}
			if n := tt.srv.ranges.Load(); n != tt.wantRanges {
				t.Errorf("%d range requests, want %d", n, tt.wantRanges)
			}
		})
	}
}

// A conditional request answered 304 is "not modified"; other statuses
// are a StatusError naming the host and code.
func TestOpenObjectStatuses(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/same":
			if r.Header.Get("If-None-Match") == `"e1"` {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Write([]byte("body"))
		case "/gone":
			w.WriteHeader(http.StatusGone)
		}
	}))
	defer ts.Close()
	rc := newRetryClient(http.DefaultTransport, testRetryPolicy())
	dl, err := openObject(context.Background(), rc, sources.Object{URL: ts.URL + "/same"}, &ObjectRecord{SourceETag: `"e1"`}, 1)
	if err != nil || !dl.notModified {
		t.Fatalf("conditional: %+v, %v; want not modified", dl, err)
	}
	_, err = openObject(context.Background(), rc, sources.Object{URL: ts.URL + "/gone"}, nil, 1)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusGone || classify(err) != sources.ReasonHTTP404 {
		t.Fatalf("410: %v, want a StatusError classified http_404", err)
	}
}
