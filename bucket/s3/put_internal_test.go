package s3

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/internal/versitygw"
)

func TestPartSizeFor(t *testing.T) {
	const hugeHint = int64(MaxParts) * MaxPartSize * 2
	for _, tc := range []struct {
		name       string
		configured int64
		hint       int64
		want       int
	}{
		{"unknown", DefaultPartSize, 0, DefaultPartSize},
		{"small", DefaultPartSize, 1234, DefaultPartSize},
		{"fits-at-configured", DefaultPartSize, MaxParts * DefaultPartSize, DefaultPartSize},
		{"one-byte-over", DefaultPartSize, MaxParts*DefaultPartSize + 1, DefaultPartSize + MiB},
		{"1TiB", DefaultPartSize, 1 << 40, 105 * MiB},
		{"min-configured", MinPartSize, 100 * GiB, 11 * MiB},
		{"capped", DefaultPartSize, hugeHint, MaxPartSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &Bucket{partSize: tc.configured}
			got := b.partSizeFor(tc.hint)
			if got != tc.want {
				t.Fatalf("partSizeFor(%d) = %d, want %d", tc.hint, got, tc.want)
			}
			if tc.hint > 0 && got < MaxPartSize && int64(got)*MaxParts < tc.hint {
				t.Fatalf("%d parts of %d do not hold %d bytes", MaxParts, got, tc.hint)
			}
			if got%MiB != 0 && got != int(tc.configured) {
				t.Fatalf("part size %d is not whole MiB", got)
			}
		})
	}
}

// slowTransport delays each request so that parts pile up behind the
// concurrency limit, which is when the buffer bound matters.
type slowTransport struct{ delay time.Duration }

func (s slowTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	time.Sleep(s.delay)
	return http.DefaultTransport.RoundTrip(r)
}

// TestBufferBound checks a Put never holds more than Concurrency+1 part
// buffers and that a second upload reuses the first one's buffers.
func TestBufferBound(t *testing.T) {
	srv := versitygw.Start(t)
	ctx := context.Background()
	const conc = 2
	b := newTestBucket(t, srv, conc, slowTransport{delay: 30 * time.Millisecond})
	data := bytes.Repeat([]byte("0123456789abcdef"), 9*MinPartSize/16+1)
	for i := range 2 {
		p, err := b.Put(ctx, "bound/obj", struct{ *bytes.Reader }{bytes.NewReader(data)}, bucket.PutOptions{})
		if err != nil {
			t.Fatalf("Put %d: %v", i, err)
		}
		if _, err := p.Commit(ctx); err != nil {
			t.Fatalf("Commit %d: %v", i, err)
		}
	}
	b.bufs.mu.Lock()
	defer b.bufs.mu.Unlock()
	if b.bufs.peak > conc+1 {
		t.Errorf("peak %d part buffers live, want at most %d", b.bufs.peak, conc+1)
	}
	if b.bufs.peak < conc+1 {
		t.Errorf("peak %d part buffers live: the upload never ran %d parts concurrently", b.bufs.peak, conc)
	}
	if b.bufs.allocs != conc+1 {
		t.Errorf("%d buffers allocated over two uploads, want %d (reused)", b.bufs.allocs, conc+1)
	}
	if b.bufs.live != 0 {
		t.Errorf("%d buffers not returned", b.bufs.live)
	}
}

// newTestBucket opens srv's bucket with the smallest part size and conc
// parts in flight; rt, if not nil, is the transport the test watches.
func newTestBucket(t testing.TB, srv *versitygw.Server, conc int, rt http.RoundTripper) *Bucket {
	t.Helper()
	cfg := Config{
		Bucket: srv.Bucket, Endpoint: srv.Endpoint, Region: versitygw.Region, PathStyle: true,
		AccessKeyID: srv.AccessKey, SecretAccessKey: Secret(srv.SecretKey),
		PartSize: MinPartSize, Concurrency: conc,
	}
	if rt != nil {
		cfg.HTTPClient = &http.Client{Transport: rt}
	}
	b, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
