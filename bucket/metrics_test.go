package bucket_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/bucket/mem"
)

const (
	opsMetric      = "astroingest_bucket_operations_total"
	durationMetric = "astroingest_bucket_operation_duration_seconds"
)

var (
	allOps     = []string{"put", "commit", "abort", "stat", "open", "list", "delete", "clean_stale"}
	allResults = []string{"success", "not_found", "precondition_failed", "canceled", "error"}
)

func metered(t *testing.T, b bucket.Bucket) (bucket.Bucket, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	mb, err := bucket.WithMetrics(b, reg)
	if err != nil {
		t.Fatal(err)
	}
	return mb, reg
}

// expectOps is the whole exposition of the counter: every op and result,
// zero unless counted in want ("op/result" -> count).
func expectOps(t *testing.T, reg *prometheus.Registry, want map[string]int) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "# HELP %s Bucket operations by op and result (success, not_found, precondition_failed, canceled, error; only error is a failure).\n# TYPE %s counter\n", opsMetric, opsMetric)
	for _, op := range allOps {
		for _, r := range allResults {
			fmt.Fprintf(&b, "%s{op=%q,result=%q} %d\n", opsMetric, op, r, want[op+"/"+r])
		}
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(b.String()), opsMetric); err != nil {
		t.Error(err)
	}
}

// observed is how many durations the histogram holds for op.
func observed(t *testing.T, reg *prometheus.Registry, op string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != durationMetric {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == op {
				return m.GetHistogram().GetSampleCount()
			}
		}
	}
	t.Fatalf("no %s{op=%q}", durationMetric, op)
	return 0
}

// Every op and result exists at zero before anything happens.
func TestWithMetricsPrecreates(t *testing.T) {
	_, reg := metered(t, mem.New())
	if n := testutil.CollectAndCount(reg, opsMetric); n != len(allOps)*len(allResults) {
		t.Errorf("%d %s series, want %d", n, opsMetric, len(allOps)*len(allResults))
	}
	if n := testutil.CollectAndCount(reg, durationMetric); n != len(allOps) {
		t.Errorf("%d %s series, want %d", n, durationMetric, len(allOps))
	}
	expectOps(t, reg, nil)
}

func TestWithMetricsCounts(t *testing.T) {
	ctx := context.Background()
	b, reg := metered(t, &cleaner{Bucket: mem.New()})
	p, err := b.Put(ctx, "a/x", strings.NewReader("hello"), bucket.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Commit(ctx); err == nil { // committed twice: an error
		t.Fatal("second Commit succeeded")
	}
	p, _ = b.Put(ctx, "a/y", strings.NewReader("x"), bucket.PutOptions{})
	_ = p.Abort(ctx)
	_, _ = b.Stat(ctx, "a/x")
	_, _ = b.Stat(ctx, "a/missing")
	_, _ = b.Stat(ctx, "../bad")
	rc, _ := b.Open(ctx, "a/x", nil)
	_, _ = io.Copy(io.Discard, rc)
	rc.Close()
	_, _ = b.Open(ctx, "a/missing", nil)
	for range b.List(ctx, "a/") {
	}
	for range b.List(ctx, "") {
		break // an early stop is still one successful list
	}
	for range b.List(ctx, "../") {
	}
	_ = b.Delete(ctx, "a/x")
	_ = bucket.CreateIfAbsent(ctx, b, "lease", []byte("1"), bucket.PutOptions{})
	_ = bucket.CreateIfAbsent(ctx, b, "lease", []byte("1"), bucket.PutOptions{})
	sc, ok := b.(bucket.StaleCleaner)
	if !ok {
		t.Fatal("a metered StaleCleaner is not a StaleCleaner")
	}
	_, _ = sc.CleanStale(ctx, "", time.Now())

	expectOps(t, reg, map[string]int{
		"put/success": 4, "commit/success": 2, "commit/error": 1, "commit/precondition_failed": 1, "abort/success": 2,
		"stat/success": 1, "stat/not_found": 1, "stat/error": 1,
		"open/success": 1, "open/not_found": 1,
		"list/success": 2, "list/error": 1,
		"delete/success":      1,
		"clean_stale/success": 1,
	})
	for op, n := range map[string]uint64{"put": 4, "commit": 4, "stat": 3, "list": 3, "clean_stale": 1} {
		if got := observed(t, reg, op); got != n {
			t.Errorf("%s: %d durations observed, want %d", op, got, n)
		}
	}
	if _, ok := bucket.As[*cleaner](b); !ok {
		t.Error("As does not reach the bucket under the metrics")
	}
	if _, ok := mustMetered(t, mem.New()).(bucket.StaleCleaner); ok {
		t.Error("a metered bucket claims StaleCleaner over one that has none")
	}
}

func mustMetered(t *testing.T, b bucket.Bucket) bucket.Bucket {
	mb, _ := metered(t, b)
	return mb
}

// A cancelled context is counted as canceled, never as a failure, and not
// timed; a deadline exceeded is a failure.
func TestWithMetricsCancelledIsNoFailure(t *testing.T) {
	b, reg := metered(t, mem.New())
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.Put(cancelled, "k", strings.NewReader("data"), bucket.PutOptions{}); err == nil {
		t.Fatal("Put with a cancelled context succeeded")
	}
	for _, err := range b.List(cancelled, "") {
		_ = err
	}
	if err := bucket.CreateIfAbsent(context.Background(), b, "k", []byte("x"), bucket.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, err := range b.List(cancelled, "") { // mem yields ctx.Err() for an object
		if err == nil {
			t.Fatal("List with a cancelled context yielded an object")
		}
	}
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	if _, err := b.Put(expired, "k2", strings.NewReader("data"), bucket.PutOptions{}); err == nil {
		t.Fatal("Put with an expired context succeeded")
	}
	expectOps(t, reg, map[string]int{
		"put/canceled": 1, "put/error": 1,
		"list/success": 1, "list/canceled": 1,
		"put/success": 1, "commit/success": 1,
	})
	if got := observed(t, reg, "put"); got != 2 {
		t.Errorf("put: %d durations observed, want 2 (the create and the deadline, not the cancel)", got)
	}
}

// Two buckets on one registry share the metrics rather than failing.
func TestWithMetricsSharedRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := bucket.WithMetrics(mem.New(), reg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := bucket.WithMetrics(mem.New(), reg)
	if err != nil {
		t.Fatalf("second WithMetrics on one registry: %v", err)
	}
	_, _ = a.Stat(context.Background(), "x")
	_, _ = b.Stat(context.Background(), "x")
	expectOps(t, reg, map[string]int{"stat/not_found": 2})
	if _, err := bucket.WithMetrics(mem.New(), nil); err == nil {
		t.Error("WithMetrics accepted a nil registerer")
	}
}
