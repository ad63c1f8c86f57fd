package buckettest

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/astroingest/astroingest/bucket"
)

func md5Of(p []byte) []byte { s := md5.Sum(p); return s[:] }

// testSizeAndDigest checks PutOptions.Size and ContentMD5 on every path a
// backend may take: staged, and written through (WriteThrough, which
// bucket/s3 honours for one part with an MD5), for an object of one part
// and one of several. A stream that is short, long, of another MD5 or
// that fails partway fails Put with nothing visible: the old object stays
// as it was and nothing is left staged.
func testSizeAndDigest(t *testing.T, b bucket.Bucket, o Options) {
	for i, sz := range []struct {
		name string
		n    int64
	}{{"small", 1000}, {"one-part", o.PartSize}, {"multi-part", 2*o.PartSize + 1}} {
		for _, through := range []bool{false, true} {
			name := sz.name + "/staged"
			if through {
				name = sz.name + "/write-through"
			}
			t.Run(name, func(t *testing.T) {
				checkSizeAndDigest(t, b, o, "digest/"+name, Data(sz.n, uint64(40+i)), through)
			})
		}
	}
}

func checkSizeAndDigest(t *testing.T, b bucket.Bucket, o Options, key string, data []byte, through bool) {
	ctx := context.Background()
	n := int64(len(data))
	old := []byte("the old version, which must survive every failed put")
	put(t, b, key, old, bucket.PutOptions{})
	wrong := md5Of(old)
	// The same bytes get the same ETag whether or not their MD5 was given
	// (a backend may take its ETag from ContentMD5 instead of hashing).
	var etag string
	for _, tc := range []struct {
		name    string
		r       io.Reader
		size    int64
		sum     []byte
		wantErr error
	}{
		{"right", bytes.NewReader(data), n, md5Of(data), nil},
		{"size-only", bytes.NewReader(data), n, nil, nil},
		{"md5-only", bytes.NewReader(data), 0, md5Of(data), nil},
		{"short", bytes.NewReader(data[:n-1]), n, md5Of(data), bucket.ErrSizeMismatch},
		{"short-no-md5", bytes.NewReader(data[:n-1]), n, nil, bucket.ErrSizeMismatch},
		// A listed size the bytes fall short of, with the md5 of the bytes
		// that came: the store's md5 check cannot catch it.
		{"short-md5-of-the-short", bytes.NewReader(data[:n-1]), n, md5Of(data[:n-1]), bucket.ErrSizeMismatch},
		{"long", bytes.NewReader(append(bytes.Clone(data), 'x')), n, md5Of(data), bucket.ErrSizeMismatch},
		{"wrong-md5", bytes.NewReader(data), n, wrong, bucket.ErrDigestMismatch},
		{"fails-halfway", &failingReader{r: bytes.NewReader(data), after: n / 2, fail: func() error { return errInjected }}, n, md5Of(data), errInjected},
		{"fails-at-last-byte", &failingReader{r: bytes.NewReader(data), after: n - 1, fail: func() error { return errInjected }}, n, md5Of(data), errInjected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := bucket.PutOptions{Size: tc.size, ContentMD5: tc.sum, WriteThrough: through, ContentType: "application/x-test"}
			p, err := b.Put(ctx, key, onlyReader{tc.r}, opts)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Put: %v", err)
				}
				if p.Size() != n {
					t.Errorf("Size() = %d, want %d", p.Size(), n)
				}
				info, err := p.Commit(ctx)
				if err != nil {
					t.Fatalf("Commit: %v", err)
				}
				if info.Size != n || info.ContentType != "application/x-test" {
					t.Errorf("Commit info = %+v, want size %d, type application/x-test", info, n)
				}
				if etag == "" {
					etag = info.ETag
				} else if info.ETag != etag {
					t.Errorf("ETag %q, want %q as for the same bytes put with other options", info.ETag, etag)
				}
				if err := p.Abort(ctx); err != nil {
					t.Errorf("Abort after Commit: %v", err)
				}
				if got := read(t, b, key, nil); !bytes.Equal(got, data) {
					t.Fatalf("read %d bytes that differ from the %d written", len(got), n)
				}
				put(t, b, key, old, bucket.PutOptions{})
				return
			}
			if err == nil {
				p.Abort(ctx)
				t.Fatalf("Put succeeded, want %v", tc.wantErr)
			}
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("Put = %v, want errors.Is %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), key) {
				t.Errorf("Put = %v, which does not name the key %s", err, key)
			}
			if got := read(t, b, key, nil); !bytes.Equal(got, old) {
				t.Fatalf("after a refused Put the key holds %d bytes, not the old version", len(got))
			}
			assertNoLeftovers(t, b, o)
		})
	}
}

// testWriteThroughConditions checks that a write condition holds on the
// written-through path as on the staged one: a failed condition fails Put
// or Commit with ErrPrecondition and leaves the old object.
func testWriteThroughConditions(t *testing.T, b bucket.Bucket, o Options) {
	key := "digest/cond"
	v1, v2 := Data(1000, 51), Data(1000, 52)
	opts := func(data []byte) bucket.PutOptions {
		return bucket.PutOptions{Size: int64(len(data)), ContentMD5: md5Of(data), WriteThrough: true}
	}
	first, err := conditionalPut(t, b, key, v1, withCond(opts(v1), "", true))
	if err != nil {
		t.Fatalf("IfNoneMatch on a missing key: %v", err)
	}
	if _, err := conditionalPut(t, b, key, v2, withCond(opts(v2), "", true)); !errors.Is(err, bucket.ErrPrecondition) {
		t.Fatalf("IfNoneMatch on a present key: %v, want ErrPrecondition", err)
	}
	if _, err := conditionalPut(t, b, key, v2, withCond(opts(v2), "0123456789abcdef0123456789abcdef", false)); !errors.Is(err, bucket.ErrPrecondition) {
		t.Fatalf("IfMatch on another ETag: %v, want ErrPrecondition", err)
	}
	if got := read(t, b, key, nil); !bytes.Equal(got, v1) {
		t.Fatal("a failed condition changed the object")
	}
	if _, err := conditionalPut(t, b, key, v2, withCond(opts(v2), first.ETag, false)); err != nil {
		t.Fatalf("IfMatch on the current ETag: %v", err)
	}
	if got := read(t, b, key, nil); !bytes.Equal(got, v2) {
		t.Fatal("IfMatch that held did not write")
	}
	assertNoLeftovers(t, b, o)
}

func withCond(o bucket.PutOptions, ifMatch string, ifNoneMatch bool) bucket.PutOptions {
	o.IfMatch, o.IfNoneMatch = ifMatch, ifNoneMatch
	return o
}
