package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/bucket/s3"
	"github.com/astroingest/astroingest/internal/versitygw"
)

// openBucket stacks s3://BUCKET/PREFIX as bucket.Stack does: the objects
// land under PREFIX, the metrics are on the registry given (the
// reachability check is their first stat), and the S3 backend is at the
// bottom of the stack.
func TestOpenBucketStacksPrefixAndMetrics(t *testing.T) {
	gw := versitygw.Start(t)
	env := map[string]string{
		"AWS_ACCESS_KEY_ID": gw.AccessKey, "AWS_SECRET_ACCESS_KEY": gw.SecretKey,
		"AWS_REGION": versitygw.Region, "AWS_ENDPOINT_URL_S3": gw.Endpoint,
	}
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	b, err := openBucket(ctx, "s3://"+gw.Bucket+"/mirror/v1", func(k string) string { return env[k] }, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := bucket.CreateIfAbsent(ctx, b, "climate/x", []byte("x"), bucket.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := gw.Client().HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(gw.Bucket), Key: aws.String("mirror/v1/climate/x")}); err != nil {
		t.Fatalf("the object is not under the URL's prefix: %v", err)
	}
	if _, ok := bucket.As[*s3.Bucket](b); !ok {
		t.Errorf("no *s3.Bucket under %T", b)
	}
	var want strings.Builder
	want.WriteString("# HELP astroingest_bucket_operations_total Bucket operations by op and result (success, not_found, precondition_failed, canceled, error; only error is a failure).\n# TYPE astroingest_bucket_operations_total counter\n")
	for _, op := range []string{"put", "commit", "abort", "stat", "open", "list", "delete", "clean_stale"} {
		for _, r := range []string{"success", "not_found", "precondition_failed", "canceled", "error"} {
			n := 0
			if op == "stat" && r == "not_found" || (op == "put" || op == "commit") && r == "success" {
				n = 1
			}
			fmt.Fprintf(&want, "astroingest_bucket_operations_total{op=%q,result=%q} %d\n", op, r, n)
		}
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want.String()), "astroingest_bucket_operations_total"); err != nil {
		t.Error(err)
	}
}

// A read-only open stacks no metrics and creates nothing.
func TestOpenReaderHasNoMetrics(t *testing.T) {
	r, err := openReader(context.Background(), "file://"+t.TempDir()+"/none", nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if u := r.(interface{ Unwrap() bucket.Bucket }).Unwrap(); u == nil || fmt.Sprintf("%T", u) != "*fs.Bucket" {
		t.Errorf("a file:// bucket without prefix is decorated beyond the read-only view: %T", u)
	}
	if _, ok := r.(bucket.Bucket); ok {
		t.Errorf("a bucket opened read-only can write: %T", r)
	}
}
