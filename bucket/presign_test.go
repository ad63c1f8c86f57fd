package bucket_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/bucket/mem"
)

// fakePresigner is a backend that records the key it was asked to sign.
type fakePresigner struct {
	*mem.Bucket
	got string
}

func (f *fakePresigner) PresignGet(_ context.Context, key string, _ time.Duration) (string, error) {
	f.got = key
	return "https://signed/" + key, nil
}

// PresignGet reaches the backend through every decorator Stack adds and the
// read-only view, with the key rewritten by the prefix; a backend that
// cannot presign is refused with ErrNoPresign, prefixed or not.
func TestPresignThroughStack(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		prefix  string
		presign bool
		wantKey string
		wantErr error
	}{
		{"s3-like, no prefix", "", true, "climate/a", nil},
		{"s3-like, prefix", "/mirror/v1/", true, "mirror/v1/climate/a", nil},
		{"mem, no prefix", "", false, "", bucket.ErrNoPresign},
		{"mem, prefix", "mirror", false, "", bucket.ErrNoPresign},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var backend bucket.Bucket = mem.New()
			fake := &fakePresigner{Bucket: mem.New()}
			if tc.presign {
				backend = fake
			}
			b, err := bucket.Stack(backend, bucket.Layers{Prefix: tc.prefix, Metrics: prometheus.NewRegistry()})
			if err != nil {
				t.Fatal(err)
			}
			url, err := bucket.PresignGet(ctx, bucket.ReadOnly(b), "climate/a", time.Hour)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if fake.got != tc.wantKey || (err == nil) != (url != "") {
				t.Errorf("signed key %q (url %q), want %q", fake.got, url, tc.wantKey)
			}
		})
	}
}

// An invalid key or expiry never reaches the backend.
func TestPresignRefusesBeforeSigning(t *testing.T) {
	fake := &fakePresigner{Bucket: mem.New()}
	b, err := bucket.WithPrefix(fake, "p")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key     string
		expires time.Duration
	}{
		{"../etc", time.Hour},
		{"ok", 0},
		{"ok", bucket.MaxPresignExpiry + 1},
	} {
		if _, err := bucket.PresignGet(context.Background(), b, tc.key, tc.expires); err == nil {
			t.Errorf("PresignGet(%q, %s): no error", tc.key, tc.expires)
		}
	}
	if fake.got != "" {
		t.Errorf("backend signed %q", fake.got)
	}
}
