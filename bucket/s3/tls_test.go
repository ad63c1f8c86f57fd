package s3_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/bucket/buckettest"
	"github.com/astroingest/astroingest/bucket/s3"
	"github.com/astroingest/astroingest/internal/versitygw"
)

// TestWriteThroughOverTLS runs the written-through path end to end
// against versitygw serving HTTPS itself (no proxy) with a private
// certificate, trusted only through AWS_CA_BUNDLE as CI sets it: a good
// object lands, a corrupt or broken one leaves nothing, the wire carries
// Content-MD5 and UNSIGNED-PAYLOAD and never aws-chunked (the SDK treats
// HTTPS apart for checksums), and without the bundle the connection is
// refused with an error that says to set AWS_CA_BUNDLE.
func TestWriteThroughOverTLS(t *testing.T) {
	srv := versitygw.StartWith(t, versitygw.Options{KeepAlive: true, TLS: true})
	ctx := context.Background()
	if !strings.HasPrefix(srv.Endpoint, "https://") {
		t.Fatalf("endpoint %s is not https", srv.Endpoint)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", versitygw.Region)
	t.Setenv("AWS_ENDPOINT_URL_S3", srv.Endpoint)
	t.Setenv("AWS_CA_BUNDLE", srv.CAFile)
	cfg, _, err := s3.FromEnv("s3://" + srv.Bucket)
	if err != nil {
		t.Fatalf("FromEnv: %v", err)
	}
	tr, err := s3.NewTransport(cfg.CABundle)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{next: tr}
	wired := cfg
	wired.HTTPClient, wired.CABundle = &http.Client{Transport: rec}, ""

	data := buckettest.Data(200_000, 31)
	opts := bucket.PutOptions{Size: int64(len(data)), ContentMD5: md5Sum(data), WriteThrough: true}
	for _, tc := range []struct {
		name    string
		cfg     s3.Config
		r       io.Reader
		opts    bucket.PutOptions
		wantErr error
		errText string
	}{
		{"through-bundle-from-env", cfg, bytes.NewReader(data), opts, nil, ""},
		{"through-wire", wired, bytes.NewReader(data), opts, nil, ""},
		{"wrong-md5", cfg, bytes.NewReader(data), withMD5(opts, md5Sum(data[1:])), bucket.ErrDigestMismatch, ""},
		{"source-breaks", cfg, &brokenReader{r: bytes.NewReader(data), after: len(data) / 2}, opts, io.ErrClosedPipe, ""},
		{"no-bundle", withoutBundle(cfg), bytes.NewReader(data), opts, nil, "set AWS_CA_BUNDLE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBucket(t, tc.cfg)
			key := "tls/" + tc.name
			p, err := b.Put(ctx, key, onlyReader{tc.r}, tc.opts)
			switch {
			case tc.errText != "":
				if err == nil || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("Put = %v, want an error that says %q", err, tc.errText)
				}
				return
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Put = %v, want %v", err, tc.wantErr)
				}
				if _, err := newBucket(t, cfg).Stat(ctx, key); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("Stat after a refused Put: %v, want not exist", err)
				}
				return
			case err != nil:
				t.Fatalf("Put: %v", err)
			}
			if _, err := p.Commit(ctx); err != nil {
				t.Fatalf("Commit: %v", err)
			}
			assertContent(t, b, key, data)
		})
	}
	var puts int
	for _, r := range rec.requests() {
		checkNoChunked(t, r)
		if r.method == http.MethodPut {
			puts++
			if r.header.Get("X-Amz-Content-Sha256") != "UNSIGNED-PAYLOAD" || r.header.Get("Content-Md5") == "" {
				t.Errorf("PUT over TLS: x-amz-content-sha256 %q, Content-MD5 %q", r.header.Get("X-Amz-Content-Sha256"), r.header.Get("Content-Md5"))
			}
		}
	}
	if puts != 1 {
		t.Errorf("%d PUTs recorded over TLS, want 1", puts)
	}
}

func withMD5(o bucket.PutOptions, sum []byte) bucket.PutOptions { o.ContentMD5 = sum; return o }

func withoutBundle(c s3.Config) s3.Config { c.CABundle = ""; return c }
