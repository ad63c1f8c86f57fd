package s3_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/internal/versitygw"
)

// get fetches url with a plain client, as a pod without credentials does.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET presigned URL: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// A presigned URL, made through the whole stack (prefix, metrics, the
// read-only view), reads the object the caller named with no credentials,
// and only for as long as it was signed for. versitygw checks SigV4 query
// signatures and their expiry as S3 and R2 do, so a tampered or an expired
// URL is refused.
func TestPresignGet(t *testing.T) {
	srv := versitygw.Start(t)
	ctx := context.Background()
	backend := newBucket(t, config(srv, srv.Bucket))
	b, err := bucket.Stack(backend, bucket.Layers{Prefix: "mirror/v1", Metrics: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	const body = "sealed bytes"
	if err := bucket.CreateIfAbsent(ctx, b, "climate/x.nc", []byte(body), bucket.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	r := bucket.ReadOnly(b)
	url, err := bucket.PresignGet(ctx, r, "climate/x.nc", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(url, "/mirror/v1/climate/x.nc?") || !strings.Contains(url, "X-Amz-Expires=3600") {
		t.Errorf("URL does not name the prefixed key with a one-hour expiry: %s", url)
	}
	if code, got := get(t, url); code != http.StatusOK || got != body {
		t.Errorf("GET: %d %q, want 200 %q", code, got, body)
	}
	tampered := strings.Replace(url, "climate/x.nc", "climate/y.nc", 1)
	if code, _ := get(t, tampered); code != http.StatusForbidden {
		t.Errorf("GET of a URL whose key was changed after signing: %d, want 403", code)
	}

	short, err := bucket.PresignGet(ctx, r, "climate/x.nc", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// SigV4 counts in whole seconds from X-Amz-Date; wait past both.
	time.Sleep(2100 * time.Millisecond)
	if code, got := get(t, short); code != http.StatusForbidden || strings.Contains(got, body) {
		t.Errorf("GET of an expired URL: %d %q, want 403", code, got)
	}
}

// Expiries that S3 and R2 would refuse are refused before signing.
func TestPresignExpiryBounds(t *testing.T) {
	srv := versitygw.Start(t)
	b := newBucket(t, config(srv, srv.Bucket))
	for _, tc := range []struct {
		expires time.Duration
		ok      bool
	}{
		{bucket.MaxPresignExpiry, true},
		{time.Second, true},
		{bucket.MaxPresignExpiry + time.Second, false},
		{0, false},
		{-time.Hour, false},
	} {
		url, err := b.PresignGet(context.Background(), "climate/x.nc", tc.expires)
		if (err == nil) != tc.ok {
			t.Errorf("PresignGet(%s): %v, want ok=%v", tc.expires, err, tc.ok)
		}
		if err != nil && url != "" {
			t.Errorf("PresignGet(%s) failed and still returned a URL", tc.expires)
		}
	}
}
