package ingest

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/bucket/s3"
	"github.com/astroingest/astroingest/internal/versitygw"
	"github.com/astroingest/astroingest/sources"
)

// breakingBody announces the whole body and sends only half of it, then
// cuts the connection: a publisher that fails mid-stream, every time.
type breakingBody struct{ body []byte }

func (s breakingBody) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Length", strconv.Itoa(len(s.body)))
	w.Write(s.body[:len(s.body)/2])
	w.(http.Flusher).Flush()
	panic(http.ErrAbortHandler)
}

// putCounter counts the PUT requests to the store that carry Content-MD5:
// the written-through ones.
type putCounter struct {
	next    http.RoundTripper
	withMD5 atomic.Int32
}

func (c *putCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut && r.Header.Get("Content-Md5") != "" {
		c.withMD5.Add(1)
	}
	return c.next.RoundTrip(r)
}

// chunkedBody sends body with no Content-Length (chunked), so the only
// length known before the end is the publisher's listed one.
type chunkedBody struct{ body []byte }

func (s chunkedBody) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Write(s.body[:len(s.body)/2])
	w.(http.Flusher).Flush()
	w.Write(s.body[len(s.body)/2:])
}

// TestTransferPathsOverS3 runs the transfer against versitygw on each
// path a Put can take and shows that nothing partial or corrupt is ever
// visible: written through with the publisher's md5 (a corrupt body is
// refused by the store itself, a body cut short too, and a chunked body
// is held to the listed size), and staged without a publisher checksum or
// with a sha256 (checked here before Commit).
func TestTransferPathsOverS3(t *testing.T) {
	srv := versitygw.StartWith(t, versitygw.Options{KeepAlive: true})
	body := make([]byte, 300_000)
	for i := range body {
		body[i] = byte(i * 7)
	}
	md := md5.Sum(body)
	sum := sha256.Sum256(body)
	md5sum := &sources.Checksum{Algo: "md5", Value: hex.EncodeToString(md[:])}
	shasum := &sources.Checksum{Algo: "sha256", Value: hex.EncodeToString(sum[:])}
	n := int64(len(body))
	for _, tc := range []struct {
		name     string
		handler  http.Handler
		size     int64 // the publisher's listed size, -1 for none
		checksum *sources.Checksum
		status   objStatus
		reason   string // of the error, when failed
		through  int32  // PUTs with Content-MD5: one per written-through attempt
	}{
		{"md5-written-through", &flakyBody{body: body}, -1, md5sum, objUploaded, "", 1},
		{"md5-corrupt-refused-by-store", corruptAlways(body), -1, md5sum, objFailed, sources.ReasonChecksumMismatch, 2},
		{"md5-source-breaks", breakingBody{body}, -1, md5sum, objFailed, "", 2},
		{"md5-chunked-listed-size", chunkedBody{body}, n, md5sum, objUploaded, "", 1},
		{"md5-chunked-listed-size-differs", chunkedBody{body}, n + 1, md5sum, objFailed, sources.ReasonSizeMismatch, 2},
		{"no-checksum-staged", &flakyBody{body: body}, -1, nil, objUploaded, "", 0},
		{"no-checksum-source-breaks", breakingBody{body}, -1, nil, objFailed, "", 0},
		{"sha256-staged", &flakyBody{body: body}, -1, shasum, objUploaded, "", 0},
		{"sha256-corrupt", corruptAlways(body), -1, shasum, objFailed, sources.ReasonChecksumMismatch, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := httptest.NewServer(tc.handler)
			defer ts.Close()
			name := srv.NewBucket(t)
			pc := &putCounter{next: http.DefaultTransport}
			b := s3Bucket(t, srv, name, pc)
			o := sources.Object{URL: ts.URL + "/f.nc", Size: tc.size, Checksum: tc.checksum}
			rec, st, err := pathsTransfer(b).run(context.Background(), objectJob{domain: "climate", obj: o, key: "climate/f.nc", charge: &charge{b: newBudget(0, nil)}})
			if st != tc.status || tc.reason != "" && classify(err) != tc.reason {
				t.Fatalf("status %v, err %v (%s); want %v %s", st, err, classify(err), tc.status, tc.reason)
			}
			if n := pc.withMD5.Load(); n != tc.through {
				t.Errorf("%d PUTs with Content-MD5, want %d", n, tc.through)
			}
			info, serr := b.Stat(context.Background(), "climate/f.nc")
			switch {
			case st == objUploaded && (serr != nil || rec.SHA256 != hex.EncodeToString(sum[:]) || info.Size != n):
				t.Errorf("uploaded: record %+v, stat %+v %v", rec, info, serr)
			case st != objUploaded && !errors.Is(serr, fs.ErrNotExist):
				t.Errorf("failed (%v), yet the key holds %+v (stat err %v)", err, info, serr)
			}
			out, lerr := srv.Client().ListMultipartUploads(context.Background(), &awss3.ListMultipartUploadsInput{Bucket: aws.String(name)})
			if lerr != nil || len(out.Uploads) != 0 {
				t.Errorf("multipart uploads left: %v %v", out, lerr)
			}
		})
	}
}

// s3Bucket is the S3 backend on bucket name of srv, its requests sent
// through rt.
func s3Bucket(t *testing.T, srv *versitygw.Server, name string, rt http.RoundTripper) *s3.Bucket {
	t.Helper()
	b, err := s3.New(context.Background(), s3.Config{Bucket: name, Endpoint: srv.Endpoint, Region: versitygw.Region, PathStyle: true,
		AccessKeyID: srv.AccessKey, SecretAccessKey: s3.Secret(srv.SecretKey), HTTPClient: &http.Client{Transport: rt}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func corruptAlways(body []byte) http.Handler {
	f := &flakyBody{body: body}
	f.corrupt.Store(1 << 30)
	return f
}

// pathsTransfer is newTestTransfer's, with room for a refetch after a
// written-through PUT fails (Restarts).
func pathsTransfer(b bucket.Bucket) *transfer {
	x, _ := newTestTransfer(b)
	x.retry.Restarts = 2
	return x
}

// slowDownOnce answers the first written-through PUT with 503 SlowDown
// itself, as a busy store would.
type slowDownOnce struct {
	next http.RoundTripper
	done atomic.Bool
}

func (s *slowDownOnce) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut && r.Header.Get("Content-Md5") != "" && s.done.CompareAndSwap(false, true) {
		if r.Body != nil {
			io.Copy(io.Discard, r.Body)
			r.Body.Close()
		}
		body := "<Error><Code>SlowDown</Code><Message>busy</Message></Error>"
		return &http.Response{StatusCode: http.StatusServiceUnavailable, Status: "503 Service Unavailable", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{"Content-Type": {"application/xml"}}, Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: r}, nil
	}
	return s.next.RoundTrip(r)
}

// A written-through PUT cannot be retried by the bucket (its body is the
// stream); the transfer refetches the object instead, and it lands.
func TestTransferWriteThroughRetriedByRefetch(t *testing.T) {
	srv := versitygw.StartWith(t, versitygw.Options{KeepAlive: true})
	body := []byte(strings.Repeat("retry me ", 1000))
	md := md5.Sum(body)
	src := &flakyBody{body: body}
	ts := httptest.NewServer(src)
	defer ts.Close()
	b := s3Bucket(t, srv, srv.Bucket, &slowDownOnce{next: http.DefaultTransport})
	o := sources.Object{URL: ts.URL + "/f", Size: -1, Checksum: &sources.Checksum{Algo: "md5", Value: hex.EncodeToString(md[:])}}
	_, st, err := pathsTransfer(b).run(context.Background(), objectJob{domain: "climate", obj: o, key: "climate/f", charge: &charge{b: newBudget(0, nil)}})
	if st != objUploaded || err != nil {
		t.Fatalf("status %v, err %v; want uploaded after a refetch", st, err)
	}
	if n := src.requests.Load(); n != 2 {
		t.Errorf("%d source requests, want 2 (one refetch)", n)
	}
}
