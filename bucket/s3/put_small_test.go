package s3

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"testing"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/internal/versitygw"
)

// TestSmallPutsTakeNoPartBuffer checks that objects smaller than a part are
// staged in buffers of about their own size, whatever the hint says, and
// still arrive intact; and that streams longer than their hint still become
// correct multipart uploads.
func TestSmallPutsTakeNoPartBuffer(t *testing.T) {
	srv := versitygw.Start(t)
	ctx := context.Background()
	b := newTestBucket(t, srv, 2, nil)
	for _, tc := range []struct {
		name        string
		size        int
		hint        int64
		wantBuffers bool // whether a part buffer is expected
	}{
		{"empty-unknown", 0, 0, false},
		{"16KiB-hinted", 16 << 10, 16 << 10, false},
		{"16KiB-unknown", 16 << 10, 0, false},
		{"grows-past-first-buffer", 3*firstBufSize + 7, 0, false},
		{"hint-too-small", 100 << 10, 10, false},
		{"one-byte-short-of-a-part", MinPartSize - 1, 0, false},
		{"exactly-a-part", MinPartSize, 0, true},
		{"longer-than-hint-multipart", 2*MinPartSize + 5, 1000, true},
		{"hinted-multipart", 2*MinPartSize + 5, 2*MinPartSize + 5, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b.bufs = newBufferPool(int(b.partSize), b.concurrency+1) // fresh counters
			data := make([]byte, tc.size)
			_, _ = rand.Read(data)
			key := "small/" + tc.name
			// Hide bytes.Reader's WriterTo/Len so Put sees a plain stream.
			p, err := b.Put(ctx, key, struct{ io.Reader }{bytes.NewReader(data)}, bucket.PutOptions{SizeHint: tc.hint})
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			if p.Size() != int64(tc.size) {
				t.Fatalf("staged %d bytes, want %d", p.Size(), tc.size)
			}
			if _, err := p.Commit(ctx); err != nil {
				t.Fatalf("Commit: %v", err)
			}
			rc, err := b.Open(ctx, key, nil)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatalf("read back: %v", err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("read back %d bytes that differ from the %d written", len(got), len(data))
			}
			b.bufs.mu.Lock()
			defer b.bufs.mu.Unlock()
			if tc.wantBuffers && b.bufs.peak == 0 {
				t.Errorf("no part buffer accounted for a %d-byte stream", tc.size)
			}
			if !tc.wantBuffers && (b.bufs.peak != 0 || b.bufs.allocs != 0) {
				t.Errorf("a %d-byte stream took part buffers: peak %d, allocs %d", tc.size, b.bufs.peak, b.bufs.allocs)
			}
			if b.bufs.live != 0 {
				t.Errorf("%d part buffers not returned", b.bufs.live)
			}
		})
	}
}
