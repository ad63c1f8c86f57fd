package buckettest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/astroingest/astroingest/bucket"
)

// conditionalPut stages data under key with opts and commits it, returning
// Commit's answer; a failed Put fails the test, except with
// opts.WriteThrough, where a backend that wrote through checks the
// condition in Put, and Put's error is returned.
func conditionalPut(t *testing.T, b bucket.Bucket, key string, data []byte, opts bucket.PutOptions) (bucket.ObjectInfo, error) {
	t.Helper()
	p, err := b.Put(context.Background(), key, onlyReader{bytes.NewReader(data)}, opts)
	if err != nil && opts.WriteThrough {
		return bucket.ObjectInfo{}, err
	}
	if err != nil {
		t.Fatalf("Put(%s, %d bytes, IfMatch %q, IfNoneMatch %v): %v", key, len(data), opts.IfMatch, opts.IfNoneMatch, err)
	}
	info, err := p.Commit(context.Background())
	if err != nil {
		// Whatever Commit did, Abort must be safe after it, and leave
		// nothing behind.
		if aerr := p.Abort(context.Background()); aerr != nil {
			t.Errorf("Abort after a failed Commit: %v", aerr)
		}
	}
	return info, err
}

func wantPrecondition(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, bucket.ErrPrecondition) {
		t.Fatalf("%s: Commit = %v, want ErrPrecondition", what, err)
	}
}

// testConditionalWrites checks IfMatch and IfNoneMatch one by one, for an
// object of one part and one of several (on S3 the condition travels on
// PutObject or on CompleteMultipartUpload): a condition that holds
// commits, one that does not fails with ErrPrecondition and leaves the old
// object (or its absence) as it was, with nothing staged.
func testConditionalWrites(t *testing.T, b bucket.Bucket, o Options) {
	ctx := context.Background()
	for i, sz := range []struct {
		name string
		n    int64
	}{{"small", 1000}, {"multi-part", 2*o.PartSize + 1}} {
		t.Run(sz.name, func(t *testing.T) {
			key := "cond/" + sz.name
			v1, v2, v3 := Data(sz.n, uint64(10*i+1)), Data(sz.n, uint64(10*i+2)), Data(sz.n, uint64(10*i+3))
			unchanged := func(want []byte, what string) {
				t.Helper()
				if got := read(t, b, key, nil); !bytes.Equal(got, want) {
					t.Fatalf("after %s the object changed (%d bytes read)", what, len(got))
				}
				assertNoLeftovers(t, b, o)
			}

			_, err := conditionalPut(t, b, key, v1, bucket.PutOptions{IfMatch: "0123456789abcdef0123456789abcdef"})
			wantPrecondition(t, "IfMatch on a missing key", err)
			assertAbsent(t, b, key)
			assertNoLeftovers(t, b, o)

			first, err := conditionalPut(t, b, key, v1, bucket.PutOptions{IfNoneMatch: true})
			if err != nil {
				t.Fatalf("IfNoneMatch on a missing key: %v", err)
			}
			st, err := b.Stat(ctx, key)
			if err != nil || st.ETag != first.ETag || first.ETag == "" {
				t.Fatalf("Stat = %+v, %v; want the ETag %q that Commit returned", st, err, first.ETag)
			}

			_, err = conditionalPut(t, b, key, v2, bucket.PutOptions{IfNoneMatch: true})
			wantPrecondition(t, "IfNoneMatch on a present key", err)
			unchanged(v1, "a failed IfNoneMatch")

			second, err := conditionalPut(t, b, key, v2, bucket.PutOptions{IfMatch: first.ETag})
			if err != nil {
				t.Fatalf("IfMatch with the current ETag: %v", err)
			}
			unchanged(v2, "a successful IfMatch")

			_, err = conditionalPut(t, b, key, v3, bucket.PutOptions{IfMatch: first.ETag})
			wantPrecondition(t, "IfMatch with an old ETag", err)
			unchanged(v2, "a failed IfMatch")

			// The ETag that List reports is as good as Stat's and Commit's.
			var listed string
			for info, err := range b.List(ctx, key) {
				if err != nil {
					t.Fatal(err)
				}
				listed = info.ETag
			}
			if listed != second.ETag {
				t.Fatalf("List ETag %q, Commit's %q", listed, second.ETag)
			}
			if _, err := conditionalPut(t, b, key, v3, bucket.PutOptions{IfMatch: listed}); err != nil {
				t.Fatalf("IfMatch with the listed ETag: %v", err)
			}
			unchanged(v3, "IfMatch with the listed ETag")
		})
	}
	t.Run("both conditions", func(t *testing.T) {
		p, err := b.Put(ctx, "cond/both", bytes.NewReader([]byte("x")), bucket.PutOptions{IfMatch: "abc", IfNoneMatch: true})
		if err == nil {
			p.Abort(ctx)
			t.Fatal("Put accepted IfMatch together with IfNoneMatch")
		}
		assertAbsent(t, b, "cond/both")
		assertNoLeftovers(t, b, o)
	})
}

// testCASRace has writers compare-and-swap one object, round after round:
// each stages its own version against the ETag that Stat reported, then
// they all commit at once. Exactly one wins each round, its bytes are what
// the object holds, and the losers get ErrPrecondition and leave nothing
// staged.
func testCASRace(t *testing.T, b bucket.Bucket, o Options) {
	ctx := context.Background()
	const (
		writers = 6
		rounds  = 4
		key     = "cas/object"
	)
	if _, err := conditionalPut(t, b, key, []byte("round 0"), bucket.PutOptions{IfNoneMatch: true}); err != nil {
		t.Fatal(err)
	}
	for r := 1; r <= rounds; r++ {
		st, err := b.Stat(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		pending := make([]bucket.Pending, writers)
		for i := range writers {
			data := fmt.Appendf(nil, "round %d, writer %d", r, i)
			if pending[i], err = b.Put(ctx, key, bytes.NewReader(data), bucket.PutOptions{IfMatch: st.ETag}); err != nil {
				t.Fatal(err)
			}
		}
		errs := make([]error, writers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, p := range pending {
			wg.Go(func() {
				<-start
				_, errs[i] = p.Commit(ctx)
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("round %d: writers %d and %d both won", r, winner, i)
			case err == nil:
				winner = i
			case !errors.Is(err, bucket.ErrPrecondition):
				t.Fatalf("round %d: writer %d: %v, want ErrPrecondition", r, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no writer won", r)
		}
		if got, want := string(read(t, b, key, nil)), fmt.Sprintf("round %d, writer %d", r, winner); got != want {
			t.Fatalf("round %d: object holds %q, want the winner's %q", r, got, want)
		}
		for _, p := range pending {
			if err := p.Abort(ctx); err != nil {
				t.Fatalf("Abort after the race: %v", err)
			}
		}
		assertNoLeftovers(t, b, o)
	}
}
