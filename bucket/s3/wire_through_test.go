package s3_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/bucket/buckettest"
	"github.com/astroingest/astroingest/internal/versitygw"
)

// TestWireWriteThrough proves what the written-through path sends, and
// that the staged paths do not send it: one PutObject during Put with
// Content-Length and a correct Content-MD5, UNSIGNED-PAYLOAD (the body
// cannot be rewound to hash it), never aws-chunked nor any other digest
// header; and when the conditions for it are missing, a signed payload,
// no Content-MD5 and nothing written before Commit.
func TestWireWriteThrough(t *testing.T) {
	srv := versitygw.Start(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		size    int64
		opts    func(data []byte) bucket.PutOptions
		through bool
	}{
		{"size-and-md5", 1234, func(d []byte) bucket.PutOptions {
			return bucket.PutOptions{Size: int64(len(d)), ContentMD5: md5Sum(d), WriteThrough: true}
		}, true},
		{"one-full-part", testPartSize, func(d []byte) bucket.PutOptions {
			return bucket.PutOptions{Size: int64(len(d)), ContentMD5: md5Sum(d), WriteThrough: true}
		}, true},
		{"no-md5", 1234, func(d []byte) bucket.PutOptions {
			return bucket.PutOptions{Size: int64(len(d)), WriteThrough: true}
		}, false},
		{"not-asked", 1234, func(d []byte) bucket.PutOptions {
			return bucket.PutOptions{Size: int64(len(d)), ContentMD5: md5Sum(d)}
		}, false},
		{"multi-part", 2*testPartSize + 1, func(d []byte) bucket.PutOptions {
			return bucket.PutOptions{Size: int64(len(d)), ContentMD5: md5Sum(d), WriteThrough: true}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{next: http.DefaultTransport}
			cfg := config(srv, srv.Bucket)
			cfg.HTTPClient = &http.Client{Transport: rec}
			b := newBucket(t, cfg)
			data := buckettest.Data(tc.size, 21)
			key := "through/" + tc.name
			p, err := b.Put(ctx, key, onlyReader{bytes.NewReader(data)}, tc.opts(data))
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			before := len(rec.requests())
			if tc.through {
				if err := p.Abort(ctx); !errors.Is(err, bucket.ErrVisible) {
					t.Errorf("Abort of a written-through Put = %v, want ErrVisible", err)
				}
			}
			if _, err := p.Commit(ctx); err != nil {
				t.Fatalf("Commit: %v", err)
			}
			reqs := rec.requests()
			if tc.through && len(reqs) != before {
				t.Errorf("Commit sent %d requests after a write-through Put, want none", len(reqs)-before)
			}
			wantMD5 := base64.StdEncoding.EncodeToString(md5Sum(data))
			for i, r := range reqs {
				carries := r.method == http.MethodPut
				checkNoChunked(t, r)
				md5h, payload := r.header.Get("Content-Md5"), r.header.Get("X-Amz-Content-Sha256")
				switch {
				case !carries:
				case tc.through:
					if i >= before || md5h != wantMD5 || payload != "UNSIGNED-PAYLOAD" || r.length != tc.size {
						t.Errorf("write-through PUT #%d (before Commit: %v): Content-MD5 %q (want %q), x-amz-content-sha256 %q (want UNSIGNED-PAYLOAD), length %d (want %d)",
							i, i < before, md5h, wantMD5, payload, r.length, tc.size)
					}
				default:
					if i < before && !r.isUploadPart() {
						t.Errorf("PutObject sent before Commit without write-through")
					}
					if md5h != "" || payload == "UNSIGNED-PAYLOAD" || len(payload) != 64 {
						t.Errorf("staged PUT: Content-MD5 %q (want none), x-amz-content-sha256 %q (want the signed hash)", md5h, payload)
					}
				}
			}
			assertContent(t, b, key, data)
		})
	}
}

func md5Sum(p []byte) []byte { s := md5.Sum(p); return s[:] }

// checkNoChunked fails on anything R2 would refuse or that is not ours to
// send: aws-chunked bodies, trailers, SDK checksum headers.
func checkNoChunked(t *testing.T, r request) {
	t.Helper()
	for name, vals := range r.header {
		lname := strings.ToLower(name)
		if strings.HasPrefix(lname, "x-amz-checksum-") || lname == "x-amz-trailer" ||
			lname == "x-amz-sdk-checksum-algorithm" || lname == "x-amz-decoded-content-length" {
			t.Errorf("%s %v sent header %s", r.method, r.query, name)
		}
		for _, v := range vals {
			if strings.Contains(strings.ToLower(v), "aws-chunked") || strings.HasPrefix(v, "STREAMING-") {
				t.Errorf("%s %v sent %s: %s", r.method, r.query, name, v)
			}
		}
	}
}
