package bucket_test

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/bucket/mem"
)

// Stack puts the metrics outside the prefix: they see the caller's call
// even when the prefix layer refuses its key, and the backend holds the
// prefixed key.
func TestStackOrder(t *testing.T) {
	ctx := context.Background()
	inner := mem.New()
	reg := prometheus.NewRegistry()
	b, err := bucket.Stack(inner, bucket.Layers{Prefix: "mirror", Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Stat(ctx, "../escape"); err == nil {
		t.Fatal("Stat of an escaping key succeeded")
	}
	if err := bucket.CreateIfAbsent(ctx, b, "k", []byte("x"), bucket.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := inner.Stat(ctx, "mirror/k"); err != nil {
		t.Fatalf("the backend does not hold mirror/k: %v", err)
	}
	expectOps(t, reg, map[string]int{"stat/error": 1, "put/success": 1, "commit/success": 1})
	if got, ok := bucket.As[*mem.Bucket](b); !ok || got != inner {
		t.Error("the Unwrap chain does not lead back to the backend")
	}
}

func TestStackNoLayers(t *testing.T) {
	inner := mem.New()
	b, err := bucket.Stack(inner, bucket.Layers{})
	if err != nil || b != bucket.Bucket(inner) {
		t.Fatalf("Stack with no layers = %T, %v; want the backend itself", b, err)
	}
	if _, err := bucket.Stack(inner, bucket.Layers{Prefix: "a//b"}); err == nil || !strings.Contains(err.Error(), "prefix") {
		t.Fatalf("Stack with a bad prefix: %v", err)
	}
}
