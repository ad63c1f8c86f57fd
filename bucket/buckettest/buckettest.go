// Package buckettest is the one behaviour suite that every bucket backend
// passes, in the manner of testing/fstest and thanos' AcceptanceTest.
package buckettest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/astroingest/astroingest/bucket"
)

// Options describe what the suite needs to know about a backend.
type Options struct {
	// PartSize is the backend's multipart part size, so that the suite can
	// exercise exactly one part, one part plus a byte, and several parts.
	// Zero means the backend has no parts; 1 MiB is used for the sizes.
	PartSize int64
	// Leftovers counts staged data that would outlive an aborted put:
	// unfinished multipart uploads, temp files, staged objects. Nil skips
	// that check (only acceptable for backends that cannot leak).
	Leftovers func(t *testing.T, b bucket.Bucket) int
	// ListKeys is how many objects the listing test writes; it should
	// exceed the backend's page size. Default 1100 (S3 pages are 1000).
	ListKeys int
}

// Run runs the whole suite. newBucket must return an empty bucket each call.
func Run(t *testing.T, newBucket func(t *testing.T) bucket.Bucket, opts ...Options) {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.PartSize == 0 {
		o.PartSize = 1 << 20
	}
	if o.ListKeys == 0 {
		o.ListKeys = 1100
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, b bucket.Bucket, o Options)
	}{
		{"RoundTrip", testRoundTrip},
		{"Overwrite", testOverwrite},
		{"Ranges", testRanges},
		{"Missing", testMissing},
		{"List", testList},
		{"CreateIfAbsentRace", testCreateIfAbsentRace},
		{"ConditionalWrites", testConditionalWrites},
		{"CompareAndSwapRace", testCASRace},
		{"ReaderFailsHalfway", testReaderFails},
		{"CancelMidUpload", testCancel},
		{"AbortAfterVerifyFails", testAbort},
		{"PendingLifecycle", testPendingLifecycle},
		{"KeyValidation", testKeyValidation},
		{"SizeAndDigest", testSizeAndDigest},
		{"WriteThroughConditions", testWriteThroughConditions},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newBucket(t), o) })
	}
}

// Data returns n deterministic pseudo-random bytes.
func Data(n int64, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// onlyReader hides WriterTo/Seeker/Len so backends must stream, as they do
// with an HTTP body of unknown length.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func put(t *testing.T, b bucket.Bucket, key string, data []byte, opts bucket.PutOptions) bucket.ObjectInfo {
	t.Helper()
	ctx := context.Background()
	p, err := b.Put(ctx, key, onlyReader{bytes.NewReader(data)}, opts)
	if err != nil {
		t.Fatalf("Put(%s, %d bytes): %v", key, len(data), err)
	}
	if p.Size() != int64(len(data)) {
		t.Fatalf("Put(%s).Size() = %d, want %d", key, p.Size(), len(data))
	}
	info, err := p.Commit(ctx)
	if err != nil {
		t.Fatalf("Commit(%s): %v", key, err)
	}
	return info
}

func read(t *testing.T, b bucket.Bucket, key string, rng *bucket.Range) []byte {
	t.Helper()
	rc, err := b.Open(context.Background(), key, rng)
	if err != nil {
		t.Fatalf("Open(%s, %v): %v", key, rng, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return got
}

func assertAbsent(t *testing.T, b bucket.Bucket, key string) {
	t.Helper()
	if info, err := b.Stat(context.Background(), key); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Stat(%s) = %+v, %v; want fs.ErrNotExist", key, info, err)
	}
}

func assertNoLeftovers(t *testing.T, b bucket.Bucket, o Options) {
	t.Helper()
	if o.Leftovers == nil {
		return
	}
	if n := o.Leftovers(t, b); n != 0 {
		t.Fatalf("%d staged uploads left behind, want 0", n)
	}
}

func testRoundTrip(t *testing.T, b bucket.Bucket, o Options) {
	sizes := []struct {
		name string
		n    int64
	}{
		{"empty", 0},
		{"one-byte", 1},
		{"exactly-one-part", o.PartSize},
		{"part-plus-one", o.PartSize + 1},
		{"multi-part", 2*o.PartSize + 12345},
	}
	for i, sz := range sizes {
		t.Run(sz.name, func(t *testing.T) {
			key := "roundtrip/" + sz.name + ".bin"
			data := Data(sz.n, uint64(i+1))
			opts := bucket.PutOptions{ContentType: "application/x-test", Metadata: map[string]string{"Sha256": "abc"}}
			if i%2 == 0 {
				opts.SizeHint = sz.n
			}
			info := put(t, b, key, data, opts)
			if info.Size != sz.n {
				t.Errorf("Commit info size = %d, want %d", info.Size, sz.n)
			}
			st, err := b.Stat(context.Background(), key)
			if err != nil {
				t.Fatalf("Stat: %v", err)
			}
			if st.Key != key || st.Size != sz.n {
				t.Errorf("Stat = {Key:%q Size:%d}, want {%q %d}", st.Key, st.Size, key, sz.n)
			}
			if st.ETag == "" {
				t.Errorf("Stat ETag empty")
			}
			if st.ContentType != "application/x-test" {
				t.Errorf("Stat ContentType = %q", st.ContentType)
			}
			if st.Metadata["sha256"] != "abc" {
				t.Errorf("Stat Metadata = %v, want sha256=abc", st.Metadata)
			}
			if got := read(t, b, key, nil); !bytes.Equal(got, data) {
				t.Fatalf("read back %d bytes differ from the %d written", len(got), len(data))
			}
			assertNoLeftovers(t, b, o)
		})
	}
}

func testOverwrite(t *testing.T, b bucket.Bucket, o Options) {
	key := "over/write.txt"
	first := put(t, b, key, []byte("first version"), bucket.PutOptions{})
	second := put(t, b, key, []byte("the second, longer version"), bucket.PutOptions{})
	if got := read(t, b, key, nil); string(got) != "the second, longer version" {
		t.Fatalf("after overwrite read %q", got)
	}
	if first.ETag == second.ETag && first.ETag != "" {
		t.Errorf("ETag unchanged after the content changed: %s", first.ETag)
	}
}

func testRanges(t *testing.T, b bucket.Bucket, o Options) {
	data := Data(100_000, 7)
	put(t, b, "ranges/obj", data, bucket.PutOptions{})
	for _, tc := range []struct {
		rng  bucket.Range
		want []byte
	}{
		{bucket.Range{Offset: 0, Length: 10}, data[:10]},
		{bucket.Range{Offset: 99_990, Length: -1}, data[99_990:]},
		{bucket.Range{Offset: 500, Length: 1}, data[500:501]},
		{bucket.Range{Offset: 99_000, Length: 5000}, data[99_000:]},
		{bucket.Range{Offset: 12_345, Length: 54_321}, data[12_345 : 12_345+54_321]},
	} {
		if got := read(t, b, "ranges/obj", &tc.rng); !bytes.Equal(got, tc.want) {
			t.Errorf("range %+v: got %d bytes, want %d (or content differs)", tc.rng, len(got), len(tc.want))
		}
	}
}

func testMissing(t *testing.T, b bucket.Bucket, o Options) {
	ctx := context.Background()
	assertAbsent(t, b, "missing/nothing-here")
	if _, err := b.Open(ctx, "missing/nothing-here", nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open missing: %v, want fs.ErrNotExist", err)
	}
	if err := b.Delete(ctx, "missing/nothing-here"); err != nil {
		t.Errorf("Delete missing: %v, want nil", err)
	}
	put(t, b, "missing/x", []byte("x"), bucket.PutOptions{})
	if err := b.Delete(ctx, "missing/x"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	assertAbsent(t, b, "missing/x")
}

func testList(t *testing.T, b bucket.Bucket, o Options) {
	ctx := context.Background()
	var want []string
	for i := range o.ListKeys {
		want = append(want, fmt.Sprintf("list/many/%05d.dat", i))
	}
	// Keys whose byte order differs from a directory walk's order.
	want = append(want, "list/a.txt", "list/a/b", "list/a-c", "list/b")
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	errs := make(chan error, len(want))
	for _, k := range want {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := bucket.CreateIfAbsent(ctx, b, k, []byte(k), bucket.PutOptions{}); err != nil {
				errs <- fmt.Errorf("create %s: %w", k, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	put(t, b, "other/not-listed", []byte("x"), bucket.PutOptions{})
	slices.Sort(want)

	var got []string
	for info, err := range b.List(ctx, "list/") {
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if info.Size != int64(len(info.Key)) {
			t.Errorf("List %s size = %d, want %d", info.Key, info.Size, len(info.Key))
		}
		got = append(got, info.Key)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("List(list/) returned %d keys, want %d in byte order; first got %v", len(got), len(want), got[:min(5, len(got))])
	}

	got = got[:0]
	for info, err := range b.List(ctx, "list/a") {
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		got = append(got, info.Key)
	}
	if w := []string{"list/a-c", "list/a.txt", "list/a/b"}; !slices.Equal(got, w) {
		t.Errorf("List(list/a) = %v, want %v", got, w)
	}

	n := 0
	for _, err := range b.List(ctx, "list/many/") {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 3 {
			break
		}
	}
	if n != 3 {
		t.Errorf("early break: saw %d", n)
	}
	for info, err := range b.List(ctx, "nothing/") {
		t.Errorf("List(nothing/) yielded %v, %v", info.Key, err)
	}
}

func testCreateIfAbsentRace(t *testing.T, b bucket.Bucket, o Options) {
	ctx := context.Background()
	const racers = 8
	var wg sync.WaitGroup
	results := make([]error, racers)
	start := make(chan struct{})
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i] = bucket.CreateIfAbsent(ctx, b, "leases/race.json", fmt.Appendf(nil, "holder-%d", i), bucket.PutOptions{ContentType: "application/json"})
		}()
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range results {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Fatalf("racers %d and %d both created the object", winner, i)
			}
			winner = i
		case !errors.Is(err, bucket.ErrExists):
			t.Fatalf("racer %d: %v, want bucket.ErrExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no racer created the object")
	}
	if got, want := string(read(t, b, "leases/race.json", nil)), fmt.Sprintf("holder-%d", winner); got != want {
		t.Fatalf("content %q, want the winner's %q", got, want)
	}
	if err := bucket.CreateIfAbsent(ctx, b, "leases/race.json", []byte("late"), bucket.PutOptions{}); !errors.Is(err, bucket.ErrExists) {
		t.Fatalf("late create: %v, want ErrExists", err)
	}
}

func testKeyValidation(t *testing.T, b bucket.Bucket, o Options) {
	ctx := context.Background()
	bad := []string{"", "/abs", "a/../b", "a//b", "a/", "./a", "a\x00b", "tab\there", string(bytes.Repeat([]byte("k"), bucket.MaxKeyLen+1))}
	for _, key := range bad {
		var ke *bucket.KeyError
		if _, err := b.Put(ctx, key, bytes.NewReader(nil), bucket.PutOptions{}); !errors.As(err, &ke) {
			t.Errorf("Put(%q): %v, want *bucket.KeyError", key, err)
		}
		if _, err := b.Stat(ctx, key); !errors.As(err, &ke) {
			t.Errorf("Stat(%q): %v, want *bucket.KeyError", key, err)
		}
		if _, err := b.Open(ctx, key, nil); !errors.As(err, &ke) {
			t.Errorf("Open(%q): %v, want *bucket.KeyError", key, err)
		}
		if err := b.Delete(ctx, key); !errors.As(err, &ke) {
			t.Errorf("Delete(%q): %v, want *bucket.KeyError", key, err)
		}
		if err := bucket.CreateIfAbsent(ctx, b, key, nil, bucket.PutOptions{}); !errors.As(err, &ke) {
			t.Errorf("CreateIfAbsent(%q): %v, want *bucket.KeyError", key, err)
		}
	}
	for info, err := range b.List(ctx, "") {
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		t.Errorf("an invalid key left object %q", info.Key)
	}
}
