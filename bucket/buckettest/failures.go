package buckettest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/astroingest/astroingest/bucket"
)

var errInjected = errors.New("injected read failure")

// errCut is a read failure that wraps io.ErrUnexpectedEOF, and errInjected.
var errCut = fmt.Errorf("%w: connection cut: %w", errInjected, io.ErrUnexpectedEOF)

type failingReader struct {
	r     io.Reader
	after int64
	n     int64
	fail  func() error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n >= f.after {
		return 0, f.fail()
	}
	if rem := f.after - f.n; int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := f.r.Read(p)
	f.n += int64(n)
	return n, err
}

func testReaderFails(t *testing.T, b bucket.Bucket, o Options) {
	for _, tc := range []struct {
		name  string
		size  int64
		after int64
	}{
		{"within-first-part", o.PartSize * 2, o.PartSize / 2},
		{"after-several-parts", o.PartSize * 4, o.PartSize*2 + 100},
		{"small", 1000, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "fail/" + tc.name
			// The error wraps io.ErrUnexpectedEOF, as a publisher's
			// connection cut mid-body does: it must not pass for the
			// end of the stream.
			r := &failingReader{r: bytes.NewReader(Data(tc.size, 3)), after: tc.after, fail: func() error { return errCut }}
			p, err := b.Put(context.Background(), key, r, bucket.PutOptions{SizeHint: tc.size})
			if err == nil {
				p.Abort(context.Background())
				t.Fatal("Put succeeded although the reader failed")
			}
			if !errors.Is(err, errInjected) {
				t.Errorf("Put error %v does not wrap the reader's error", err)
			}
			assertAbsent(t, b, key)
			assertNoLeftovers(t, b, o)
		})
	}
}

func testCancel(t *testing.T, b bucket.Bucket, o Options) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := &failingReader{r: bytes.NewReader(Data(o.PartSize*4, 4)), after: o.PartSize*2 + 7, fail: func() error {
		cancel()
		// A body being read when the run is interrupted blocks or fails; keep
		// returning errors like a closed connection would.
		return ctx.Err()
	}}
	p, err := b.Put(ctx, "cancel/obj", r, bucket.PutOptions{})
	if err == nil {
		p.Abort(context.Background())
		t.Fatal("Put succeeded although its context was cancelled")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Put error %v does not wrap context.Canceled", err)
	}
	assertAbsent(t, b, "cancel/obj")
	assertNoLeftovers(t, b, o)
}

func testAbort(t *testing.T, b bucket.Bucket, o Options) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		size int64
	}{{"small", 1000}, {"multi-part", o.PartSize*2 + 1}} {
		t.Run(tc.name, func(t *testing.T) {
			key := "abort/" + tc.name
			p, err := b.Put(ctx, key, onlyReader{bytes.NewReader(Data(tc.size, 5))}, bucket.PutOptions{})
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			assertAbsent(t, b, key) // staged, not visible
			if err := p.Abort(ctx); err != nil {
				t.Fatalf("Abort: %v", err)
			}
			assertAbsent(t, b, key)
			assertNoLeftovers(t, b, o)

			// A refresh that fails verification leaves the old object.
			put(t, b, key, []byte("good old content"), bucket.PutOptions{})
			p, err = b.Put(ctx, key, onlyReader{bytes.NewReader(Data(tc.size, 6))}, bucket.PutOptions{})
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			if err := p.Abort(ctx); err != nil {
				t.Fatalf("Abort: %v", err)
			}
			if got := read(t, b, key, nil); string(got) != "good old content" {
				t.Fatalf("after an aborted refresh read %d bytes, want the old object", len(got))
			}
			assertNoLeftovers(t, b, o)
		})
	}
}

func testPendingLifecycle(t *testing.T, b bucket.Bucket, o Options) {
	ctx := context.Background()
	p, err := b.Put(ctx, "life/obj", onlyReader{bytes.NewReader([]byte("abc"))}, bucket.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Commit(ctx); err == nil {
		t.Error("second Commit succeeded")
	}
	if err := p.Abort(ctx); err != nil {
		t.Errorf("Abort after Commit: %v, want nil", err)
	}
	if got := read(t, b, "life/obj", nil); string(got) != "abc" {
		t.Errorf("Abort after Commit removed or changed the object: %q", got)
	}
}
