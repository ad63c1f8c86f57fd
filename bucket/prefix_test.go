package bucket_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/bucket/mem"
)

func keys(t *testing.T, b bucket.Reader, prefix string) []string {
	t.Helper()
	var ks []string
	for info, err := range b.List(context.Background(), prefix) {
		if err != nil {
			t.Fatalf("List(%q): %v", prefix, err)
		}
		ks = append(ks, info.Key)
	}
	return ks
}

func mustPrefix(t *testing.T, b bucket.Bucket, prefix string) bucket.Bucket {
	t.Helper()
	p, err := bucket.WithPrefix(b, prefix)
	if err != nil {
		t.Fatalf("WithPrefix(%q): %v", prefix, err)
	}
	return p
}

// A prefixed bucket writes under its prefix, shows keys without it, and
// sees nothing outside it, not even a sibling whose name starts alike.
func TestWithPrefixRewritesKeys(t *testing.T) {
	ctx := context.Background()
	inner := mem.New()
	for _, k := range []string{"outside", "mirror/v10/sibling", "mirror/v1x"} {
		if err := bucket.CreateIfAbsent(ctx, inner, k, []byte("x"), bucket.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	b := mustPrefix(t, inner, "/mirror/v1/")

	p, err := b.Put(ctx, "climate/a.nc", strings.NewReader("hello"), bucket.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if info, err := p.Commit(ctx); err != nil || info.Key != "climate/a.nc" {
		t.Fatalf("Commit = %+v, %v; want key climate/a.nc", info, err)
	}
	if err := bucket.CreateIfAbsent(ctx, b, "annotations/leases/x", []byte("l"), bucket.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := bucket.CreateIfAbsent(ctx, b, "annotations/leases/x", []byte("l"), bucket.PutOptions{}); !errors.Is(err, bucket.ErrExists) {
		t.Fatalf("second CreateIfAbsent: %v, want ErrExists", err)
	}
	if got, want := keys(t, inner, ""), []string{"mirror/v1/annotations/leases/x", "mirror/v1/climate/a.nc", "mirror/v10/sibling", "mirror/v1x", "outside"}; !slices.Equal(got, want) {
		t.Fatalf("inner keys %q, want %q", got, want)
	}
	if got, want := keys(t, b, ""), []string{"annotations/leases/x", "climate/a.nc"}; !slices.Equal(got, want) {
		t.Fatalf("prefixed List(\"\") = %q, want %q", got, want)
	}
	if got := keys(t, b, "clim"); !slices.Equal(got, []string{"climate/a.nc"}) {
		t.Fatalf("prefixed List(clim) = %q", got)
	}
	if info, err := b.Stat(ctx, "climate/a.nc"); err != nil || info.Key != "climate/a.nc" || info.Size != 5 {
		t.Fatalf("Stat = %+v, %v", info, err)
	}
	rc, err := b.Open(ctx, "climate/a.nc", &bucket.Range{Offset: 1, Length: 3})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rc)
	rc.Close()
	if string(data) != "ell" {
		t.Fatalf("Open range read %q", data)
	}
	if _, err := b.Stat(ctx, "outside"); err == nil {
		t.Fatal("a key outside the prefix is visible")
	}
	if err := b.Delete(ctx, "climate/a.nc"); err != nil {
		t.Fatal(err)
	}
	if _, err := inner.Stat(ctx, "mirror/v1/climate/a.nc"); err == nil {
		t.Fatal("Delete did not remove the prefixed key")
	}
}

// Keys are checked as the caller wrote them: the prefix must not turn an
// invalid key into a valid one or change the reason it is refused.
func TestWithPrefixValidatesTheCallersKey(t *testing.T) {
	ctx := context.Background()
	b := mustPrefix(t, mem.New(), "mirror")
	var ke *bucket.KeyError
	if _, err := b.Stat(ctx, ""); !errors.As(err, &ke) || ke.Key != "" || ke.Reason != "empty key" {
		t.Errorf("Stat(\"\"): %v, want the empty-key error for the caller's key", err)
	}
	for _, k := range []string{"/abs", "a//b", "../x", "a/"} {
		if _, err := b.Put(ctx, k, strings.NewReader("x"), bucket.PutOptions{}); !errors.As(err, &ke) || ke.Key != k {
			t.Errorf("Put(%q): %v, want a *KeyError for %q", k, err, k)
		}
	}
	for info, err := range b.List(ctx, "../") {
		if !errors.As(err, &ke) {
			t.Errorf("List(../) = %+v, %v; want a *KeyError", info, err)
		}
	}
	if _, err := bucket.WithPrefix(mem.New(), "a/../b"); err == nil {
		t.Error("WithPrefix accepted an escaping prefix")
	}
	if b := mustPrefix(t, mem.New(), "/"); b == nil {
		t.Fatal("nil bucket")
	} else if _, ok := b.(*mem.Bucket); !ok {
		t.Errorf("an empty prefix wrapped the bucket in %T", b)
	}
}

// cleaner records the sweeps asked of it.
type cleaner struct {
	bucket.Bucket
	prefixes []string
}

func (c *cleaner) CleanStale(_ context.Context, prefix string, _ time.Time) (int, error) {
	c.prefixes = append(c.prefixes, prefix)
	return 1, nil
}

// StaleCleaner passes through, with its prefix rewritten, and only where
// the inner bucket has one.
func TestWithPrefixStaleCleaner(t *testing.T) {
	ctx := context.Background()
	inner := &cleaner{Bucket: mem.New()}
	b := mustPrefix(t, inner, "mirror")
	sc, ok := b.(bucket.StaleCleaner)
	if !ok {
		t.Fatal("a prefixed StaleCleaner is not a StaleCleaner")
	}
	for _, p := range []string{"", "climate/", "climate/x.nc"} {
		if n, err := sc.CleanStale(ctx, p, time.Now()); err != nil || n != 1 {
			t.Fatalf("CleanStale(%q) = %d, %v", p, n, err)
		}
	}
	if _, err := sc.CleanStale(ctx, "../", time.Now()); err == nil {
		t.Error("CleanStale accepted an escaping prefix")
	}
	if want := []string{"mirror/", "mirror/climate/", "mirror/climate/x.nc"}; !slices.Equal(inner.prefixes, want) {
		t.Errorf("inner sweeps %q, want %q", inner.prefixes, want)
	}
	if _, ok := mustPrefix(t, mem.New(), "mirror").(bucket.StaleCleaner); ok {
		t.Error("a prefixed bucket claims StaleCleaner over one that has none")
	}
	if got, ok := bucket.As[*cleaner](b); !ok || got != inner {
		t.Errorf("As[*cleaner] = %v, %v; want the inner bucket", got, ok)
	}
	if u, ok := b.(interface{ Unwrap() bucket.Bucket }); !ok || u.Unwrap() != bucket.Bucket(inner) {
		t.Error("Unwrap does not return the inner bucket")
	}
}

// A read-only view is a Reader and nothing more, while As still reaches
// what it wraps.
func TestReadOnly(t *testing.T) {
	inner := mem.New()
	r := bucket.ReadOnly(inner)
	if _, ok := r.(bucket.Bucket); ok {
		t.Fatal("the read-only view can be asserted to a Bucket")
	}
	if got, ok := bucket.As[*mem.Bucket](r); !ok || got != inner {
		t.Fatal("As does not reach the wrapped bucket")
	}
}
