package s3_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/bucket/buckettest"
	"github.com/astroingest/astroingest/bucket/s3"
	"github.com/astroingest/astroingest/internal/versitygw"
)

// request is what the recorder keeps of one HTTP request.
type request struct {
	method string
	query  url.Values
	header http.Header
	length int64
}

func (r request) isUploadPart() bool {
	return r.method == http.MethodPut && r.query.Has("partNumber") && r.query.Has("uploadId")
}

func (r request) isComplete() bool {
	return r.method == http.MethodPost && r.query.Has("uploadId")
}

// recorder is an http.RoundTripper that records every request the backend
// sends and the peak number of UploadPart requests in flight.
type recorder struct {
	next http.RoundTripper

	mu       sync.Mutex
	reqs     []request
	inflight atomic.Int32
	peak     atomic.Int32
}

func (rec *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r := request{method: req.Method, query: req.URL.Query(), header: req.Header.Clone(), length: req.ContentLength}
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, r)
	rec.mu.Unlock()
	if r.isUploadPart() {
		n := rec.inflight.Add(1)
		defer rec.inflight.Add(-1)
		for {
			p := rec.peak.Load()
			if n <= p || rec.peak.CompareAndSwap(p, n) {
				break
			}
		}
	}
	return rec.next.RoundTrip(req)
}

func (rec *recorder) requests() []request {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]request(nil), rec.reqs...)
}

// onlyReader hides bytes.Reader's Len and Seek so the backend sees a stream
// of unknown length, like an HTTP body.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// TestWireFormat proves what goes on the wire: equal parts, bounded
// concurrency, no checksum headers or trailers R2 would reject, and no
// CompleteMultipartUpload before Commit.
func TestWireFormat(t *testing.T) {
	srv := versitygw.Start(t)
	ctx := context.Background()
	const conc = 3
	for _, tc := range []struct {
		name      string
		size      int64
		hint      bool
		wantParts int
		wantPart  int64
	}{
		{"unknown-length", 7*testPartSize + 12345, false, 8, testPartSize},
		{"exact-multiple", 3 * testPartSize, false, 3, testPartSize},
		{"hinted", 7*testPartSize + 12345, true, 8, testPartSize},
		{"single-part", testPartSize, false, 0, 0},
		{"small", 1234, true, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{next: http.DefaultTransport}
			cfg := config(srv, srv.Bucket)
			cfg.Concurrency = conc
			cfg.HTTPClient = &http.Client{Transport: rec}
			b := newBucket(t, cfg)

			data := buckettest.Data(tc.size, 11)
			opts := bucket.PutOptions{ContentType: "application/octet-stream"}
			if tc.hint {
				opts.SizeHint = tc.size
			}
			key := "wire/" + tc.name
			p, err := b.Put(ctx, key, onlyReader{bytes.NewReader(data)}, opts)
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			for _, r := range rec.requests() {
				if r.isComplete() || r.method == http.MethodPut && !r.isUploadPart() {
					t.Fatalf("%s %v sent before Commit: the object would be visible before verification", r.method, r.query)
				}
			}
			if _, err := p.Commit(ctx); err != nil {
				t.Fatalf("Commit: %v", err)
			}

			var parts []request
			for _, r := range rec.requests() {
				for name, vals := range r.header {
					lname := strings.ToLower(name)
					if strings.HasPrefix(lname, "x-amz-checksum-") || lname == "content-md5" ||
						lname == "x-amz-trailer" || lname == "x-amz-sdk-checksum-algorithm" || lname == "x-amz-decoded-content-length" {
						t.Errorf("%s %v sent header %s", r.method, r.query, name)
					}
					for _, v := range vals {
						if strings.Contains(strings.ToLower(v), "aws-chunked") || strings.HasPrefix(v, "STREAMING-") {
							t.Errorf("%s %v sent %s: %s", r.method, r.query, name, v)
						}
					}
				}
				if r.isUploadPart() {
					parts = append(parts, r)
				}
			}
			if len(parts) != tc.wantParts {
				t.Fatalf("%d UploadPart requests, want %d", len(parts), tc.wantParts)
			}
			var total int64
			last := int64(-1)
			for _, r := range parts {
				total += r.length
				if r.query.Get("partNumber") == strconv.Itoa(len(parts)) {
					last = r.length
					continue
				}
				if r.length != tc.wantPart {
					t.Errorf("part %s is %d bytes, want %d (all parts but the last equal)", r.query.Get("partNumber"), r.length, tc.wantPart)
				}
			}
			if len(parts) > 0 {
				if last <= 0 || last > tc.wantPart {
					t.Errorf("last part %d bytes, want 1..%d", last, tc.wantPart)
				}
				if total != tc.size {
					t.Errorf("parts carry %d bytes, want %d", total, tc.size)
				}
				if peak := rec.peak.Load(); peak > conc {
					t.Errorf("%d parts in flight at once, want at most %d", peak, conc)
				}
			}
			assertContent(t, b, key, data)
			if n := openUploads(t, srv, srv.Bucket); n != 0 {
				t.Errorf("%d multipart uploads left open", n)
			}
		})
	}
}

func assertContent(t *testing.T, b bucket.Bucket, key string, want []byte) {
	t.Helper()
	rc, err := b.Open(context.Background(), key, nil)
	if err != nil {
		t.Fatalf("Open(%s): %v", key, err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	if n != int64(len(want)) || !bytes.Equal(h.Sum(nil), sha(want)) {
		t.Fatalf("%s: read %d bytes that differ from the %d written", key, n, len(want))
	}
}

func sha(p []byte) []byte { s := sha256.Sum256(p); return s[:] }

// proxy forwards to srv, letting hook answer a request itself first (hook
// returns true when it did). With tlsOn the proxy serves HTTPS with a
// self-signed certificate, written as PEM to the returned path.
func proxy(t *testing.T, srv *versitygw.Server, tlsOn bool, hook func(w http.ResponseWriter, r *http.Request) bool) (endpoint, caFile string) {
	t.Helper()
	target, err := url.Parse(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	// The Host header is left as the client sent it: it is part of the
	// SigV4 signature the gateway checks.
	rp := httputil.NewSingleHostReverseProxy(target)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hook != nil && hook(w, r) {
			return
		}
		rp.ServeHTTP(w, r)
	})
	if !tlsOn {
		ts := httptest.NewServer(h)
		t.Cleanup(ts.Close)
		return ts.URL, ""
	}
	ts := httptest.NewTLSServer(h)
	t.Cleanup(ts.Close)
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return ts.URL, caFile
}

// s3Error answers like S3 does, after draining the body as a real server
// would (otherwise the client may see a reset instead of the answer).
func s3Error(w http.ResponseWriter, r *http.Request, status int, code string) {
	io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>`+code+`</Code><Message>injected by test</Message></Error>`)
}

// TestSignatureMismatchOnPartRetried injects R2's spurious 403
// SignatureDoesNotMatch into one UploadPart and checks the upload still
// completes, while the same answer to a PutObject is not retried.
func TestSignatureMismatchOnPartRetried(t *testing.T) {
	srv := versitygw.Start(t)
	ctx := context.Background()
	var partFailures, putFailures atomic.Int32
	var part2Attempts atomic.Int32
	endpoint, _ := proxy(t, srv, false, func(w http.ResponseWriter, r *http.Request) bool {
		q := r.URL.Query()
		switch {
		case r.Method == http.MethodPut && q.Get("partNumber") == "2":
			if part2Attempts.Add(1) == 1 {
				partFailures.Add(1)
				s3Error(w, r, http.StatusForbidden, "SignatureDoesNotMatch")
				return true
			}
		case r.Method == http.MethodPut && !q.Has("uploadId") && strings.HasSuffix(r.URL.Path, "/sig/put"):
			putFailures.Add(1)
			s3Error(w, r, http.StatusForbidden, "SignatureDoesNotMatch")
			return true
		}
		return false
	})
	cfg := config(srv, srv.Bucket)
	cfg.Endpoint = endpoint
	b := newBucket(t, cfg)

	data := buckettest.Data(3*testPartSize+1, 12)
	p, err := b.Put(ctx, "sig/multipart", onlyReader{bytes.NewReader(data)}, bucket.PutOptions{})
	if err != nil {
		t.Fatalf("Put with one 403 SignatureDoesNotMatch part: %v", err)
	}
	if _, err := p.Commit(ctx); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if partFailures.Load() != 1 || part2Attempts.Load() != 2 {
		t.Fatalf("part 2: %d injected failures, %d attempts; want 1 and 2", partFailures.Load(), part2Attempts.Load())
	}
	assertContent(t, b, "sig/multipart", data)

	// A 403 elsewhere is a real credential problem and must surface at once.
	p, err = b.Put(ctx, "sig/put", bytes.NewReader([]byte("small")), bucket.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Commit(ctx); err == nil || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
		t.Fatalf("Commit with 403 SignatureDoesNotMatch: %v, want that error", err)
	}
	if n := putFailures.Load(); n != 1 {
		t.Errorf("PutObject with SignatureDoesNotMatch attempted %d times, want 1 (no retry)", n)
	}
	p.Abort(ctx)
}

// TestFailedPartAbortsUpload checks that a part the server refuses for good
// makes Put fail and leaves no multipart upload and no object.
func TestFailedPartAbortsUpload(t *testing.T) {
	srv := versitygw.Start(t)
	ctx := context.Background()
	var aborts atomic.Int32
	endpoint, _ := proxy(t, srv, false, func(w http.ResponseWriter, r *http.Request) bool {
		q := r.URL.Query()
		if r.Method == http.MethodDelete && q.Has("uploadId") {
			aborts.Add(1)
		}
		if r.Method == http.MethodPut && q.Get("partNumber") == "3" {
			s3Error(w, r, http.StatusBadRequest, "InvalidPart")
			return true
		}
		return false
	})
	cfg := config(srv, srv.Bucket)
	cfg.Endpoint = endpoint
	b := newBucket(t, cfg)

	_, err := b.Put(ctx, "failpart/obj", onlyReader{bytes.NewReader(buckettest.Data(5*testPartSize, 13))}, bucket.PutOptions{})
	if err == nil || !strings.Contains(err.Error(), "upload part 3") || !strings.Contains(err.Error(), "failpart/obj") {
		t.Fatalf("Put: %v, want an error naming the key and part 3", err)
	}
	if aborts.Load() != 1 {
		t.Errorf("%d AbortMultipartUpload requests, want 1", aborts.Load())
	}
	if n := openUploads(t, srv, srv.Bucket); n != 0 {
		t.Errorf("%d multipart uploads left open", n)
	}
	if _, err := b.Stat(ctx, "failpart/obj"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Stat after failed Put: %v, want not exist", err)
	}
}

// TestCABundle serves the gateway over TLS with a private certificate and
// checks AWS_CA_BUNDLE is honoured with our own transport, through FromEnv,
// as the process environment sets it in CI.
func TestCABundle(t *testing.T) {
	srv := versitygw.Start(t)
	ctx := context.Background()
	endpoint, caFile := proxy(t, srv, true, nil)

	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", versitygw.Region)
	t.Setenv("AWS_ENDPOINT_URL_S3", endpoint)
	t.Setenv("AWS_CA_BUNDLE", caFile)

	cfg, prefix, err := s3.FromEnv("s3://" + srv.Bucket + "/tls")
	if err != nil || prefix != "tls" {
		t.Fatalf("FromEnv = prefix %q, %v; want prefix tls", prefix, err)
	}
	if cfg.CABundle != caFile {
		t.Fatalf("CABundle = %q, want %q", cfg.CABundle, caFile)
	}
	roundTrip := func(t *testing.T, cfg s3.Config) error {
		b, err := s3.New(ctx, cfg)
		if err != nil {
			return err
		}
		return bucket.CreateIfAbsent(ctx, b, "tls/"+t.Name(), []byte("over tls"), bucket.PutOptions{})
	}

	for _, tc := range []struct {
		name    string
		mod     func(*s3.Config)
		wantErr string
	}{
		{"default-transport", func(*s3.Config) {}, ""},
		{"own-http-transport", func(c *s3.Config) { c.HTTPClient = &http.Client{Transport: &http.Transport{}} }, ""},
		{"own-client-nil-transport", func(c *s3.Config) { c.HTTPClient = &http.Client{} }, ""},
		{"wrapped-newtransport", func(c *s3.Config) {
			tr, err := s3.NewTransport(c.CABundle)
			if err != nil {
				t.Fatal(err)
			}
			c.HTTPClient = &http.Client{Transport: &recorder{next: tr}}
			c.CABundle = "" // already in the transport
		}, ""},
		{"opaque-transport", func(c *s3.Config) { c.HTTPClient = &http.Client{Transport: &recorder{next: http.DefaultTransport}} }, "not *http.Transport"},
		{"no-bundle", func(c *s3.Config) { c.CABundle = "" }, "certificate"},
		{"missing-file", func(c *s3.Config) { c.CABundle = filepath.Join(t.TempDir(), "none.pem") }, "AWS_CA_BUNDLE"},
		{"not-pem", func(c *s3.Config) {
			p := filepath.Join(t.TempDir(), "bad.pem")
			os.WriteFile(p, []byte("not a certificate"), 0o600)
			c.CABundle = p
		}, "no PEM certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg
			tc.mod(&c)
			err := roundTrip(t, c)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("over TLS: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("got %v, want error containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestMaxAttempts answers every HEAD with 503 SlowDown and checks that a
// request is tried exactly Config.MaxAttempts times before the error
// surfaces.
func TestMaxAttempts(t *testing.T) {
	srv := versitygw.Start(t)
	ctx := context.Background()
	var heads atomic.Int32
	endpoint, _ := proxy(t, srv, false, func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodHead {
			heads.Add(1)
			s3Error(w, r, http.StatusServiceUnavailable, "SlowDown")
			return true
		}
		return false
	})
	for _, attempts := range []int{1, 2} {
		heads.Store(0)
		cfg := config(srv, srv.Bucket)
		cfg.Endpoint = endpoint
		cfg.MaxAttempts = attempts
		if _, err := newBucket(t, cfg).Stat(ctx, "retry/x"); err == nil || errors.Is(err, os.ErrNotExist) {
			t.Fatalf("MaxAttempts %d: Stat = %v, want the 503", attempts, err)
		}
		if got := heads.Load(); got != int32(attempts) {
			t.Errorf("MaxAttempts %d: %d HEAD requests", attempts, got)
		}
	}
}
