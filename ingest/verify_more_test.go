package ingest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/bucket/mem"
)

// putObject commits data under key, failing the test on any error.
func putObject(t *testing.T, b bucket.Bucket, key, data string) {
	t.Helper()
	ctx := context.Background()
	p, err := b.Put(ctx, key, strings.NewReader(data), bucket.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

// A bucket with no catalog, no manifests and no data is not a mirror (an
// empty directory, a wrong prefix): Verify says so instead of passing it.
func TestVerifyNoMirror(t *testing.T) {
	ctx := context.Background()
	rep, err := Verify(ctx, mem.New(), true, 2)
	if !errors.Is(err, ErrNoMirror) {
		t.Fatalf("Verify of an empty bucket: report %+v, err %v; want ErrNoMirror", rep, err)
	}

	// Objects outside the domains (a probe left-over, another tool's
	// files) do not make it a mirror either.
	b := mem.New()
	putObject(t, b, "_probe/x/1KiB-000", "x")
	if _, err := Verify(ctx, b, false, 2); !errors.Is(err, ErrNoMirror) {
		t.Fatalf("Verify of a bucket with only non-mirror keys: %v, want ErrNoMirror", err)
	}

	// Data without annotations is a damaged mirror: its objects are
	// reported, not waved off as "no mirror here".
	b = mem.New()
	putObject(t, b, "climate/x.nc", "data")
	rep, err = Verify(ctx, b, false, 2)
	if err != nil {
		t.Fatalf("Verify of data without annotations: %v", err)
	}
	if rep.OK() || !hasProblem(rep, ProblemOrphan, "climate/x.nc") {
		t.Fatalf("problems %+v, want climate/x.nc reported as an orphan", rep.Problems)
	}
}

func hasProblem(rep *VerifyReport, kind, key string) bool {
	for _, p := range rep.Problems {
		if p.Kind == kind && p.Key == key {
			return true
		}
	}
	return false
}
