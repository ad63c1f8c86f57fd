package s3_test

import (
	"context"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/internal/versitygw"
)

// TestCleanStale leaves multipart uploads behind as a killed process would
// and checks CleanStale aborts exactly the old ones under its prefix, with
// the prefix applied by bucket.WithPrefix as the command stacks it: the
// ListMultipartUploads prefix is the whole one.
func TestCleanStale(t *testing.T) {
	srv := versitygw.Start(t)
	ctx := context.Background()
	client := srv.Client()
	keys := []string{"mirror/climate/a.nc", "mirror/climate/b.nc", "mirror/biology/c.fa", "elsewhere/d"}
	for _, k := range keys {
		if _, err := client.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String(srv.Bucket), Key: aws.String(k)}); err != nil {
			t.Fatalf("create upload %s: %v", k, err)
		}
	}
	pb, err := bucket.WithPrefix(newBucket(t, config(srv, srv.Bucket)), "mirror")
	if err != nil {
		t.Fatal(err)
	}
	b, ok := pb.(bucket.StaleCleaner)
	if !ok {
		t.Fatalf("%T over an S3 bucket is not a bucket.StaleCleaner", pb)
	}

	// Nothing is older than an hour ago.
	if n, err := b.CleanStale(ctx, "", time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("CleanStale(past cutoff) = %d, %v; want 0, nil", n, err)
	}
	cutoff := time.Now().Add(time.Minute)
	if n, err := b.CleanStale(ctx, "climate/", cutoff); err != nil || n != 2 {
		t.Fatalf("CleanStale(climate/) = %d, %v; want 2, nil", n, err)
	}
	if got := remaining(t, srv); !slices.Equal(got, []string{"elsewhere/d", "mirror/biology/c.fa"}) {
		t.Fatalf("after cleaning climate/: uploads %v", got)
	}
	if n, err := b.CleanStale(ctx, "", cutoff); err != nil || n != 1 {
		t.Fatalf("CleanStale(\"\") = %d, %v; want 1, nil", n, err)
	}
	if got := remaining(t, srv); !slices.Equal(got, []string{"elsewhere/d"}) {
		t.Fatalf("the upload outside the bucket's prefix must survive; uploads %v", got)
	}
	if _, err := b.CleanStale(ctx, "../", cutoff); err == nil {
		t.Fatal("CleanStale accepted an escaping prefix")
	}
}

func remaining(t *testing.T, srv *versitygw.Server) []string {
	t.Helper()
	out, err := srv.Client().ListMultipartUploads(context.Background(), &awss3.ListMultipartUploadsInput{Bucket: aws.String(srv.Bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, u := range out.Uploads {
		keys = append(keys, aws.ToString(u.Key))
	}
	sort.Strings(keys)
	return keys
}
