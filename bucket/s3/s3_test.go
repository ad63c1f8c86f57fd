package s3_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/astroingest/astroingest/bucket"
	"github.com/astroingest/astroingest/bucket/buckettest"
	"github.com/astroingest/astroingest/bucket/s3"
	"github.com/astroingest/astroingest/internal/versitygw"
)

// testPartSize is the smallest part size S3 allows, to keep tests fast.
const testPartSize = s3.MinPartSize

// config returns a Config for bucket name on srv, with test part sizes.
func config(srv *versitygw.Server, name string) s3.Config {
	return s3.Config{
		Bucket:          name,
		Endpoint:        srv.Endpoint,
		Region:          versitygw.Region,
		PathStyle:       true,
		AccessKeyID:     srv.AccessKey,
		SecretAccessKey: s3.Secret(srv.SecretKey),
		PartSize:        testPartSize,
	}
}

func newBucket(t testing.TB, cfg s3.Config) *s3.Bucket {
	t.Helper()
	b, err := s3.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("s3.New: %v", err)
	}
	return b
}

// openUploads counts unfinished multipart uploads in a bucket, asking the
// server directly rather than trusting the code under test.
func openUploads(t testing.TB, srv *versitygw.Server, name string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := srv.Client().ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: aws.String(name)})
	if err != nil {
		t.Fatalf("list multipart uploads in %s: %v", name, err)
	}
	return len(out.Uploads)
}

func TestConformance(t *testing.T) {
	srv := versitygw.Start(t)
	names := map[*s3.Bucket]string{}
	buckettest.RunStacks(t, func(t *testing.T) bucket.Bucket {
		name := srv.NewBucket(t)
		b := newBucket(t, config(srv, name))
		names[b] = name
		return b
	}, buckettest.Options{
		PartSize: testPartSize,
		Leftovers: func(t *testing.T, b bucket.Bucket) int {
			sb, ok := bucket.As[*s3.Bucket](b)
			if !ok {
				t.Fatalf("no *s3.Bucket under %T", b)
			}
			return openUploads(t, srv, names[sb])
		},
	})
}

// TestPrefixIsolation checks that an S3 bucket behind bucket.WithPrefix
// writes under its prefix and sees nothing outside it.
func TestPrefixIsolation(t *testing.T) {
	srv := versitygw.Start(t)
	ctx := context.Background()
	plain := newBucket(t, config(srv, srv.Bucket))
	pre, err := bucket.WithPrefix(plain, "/mirror/v1/")
	if err != nil {
		t.Fatal(err)
	}

	if err := bucket.CreateIfAbsent(ctx, plain, "outside", []byte("x"), bucket.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := bucket.CreateIfAbsent(ctx, pre, "inside/k", []byte("hello"), bucket.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	rc, err := plain.Open(ctx, "mirror/v1/inside/k", nil)
	if err != nil {
		t.Fatalf("prefixed write not at mirror/v1/inside/k: %v", err)
	}
	var buf bytes.Buffer
	buf.ReadFrom(rc)
	rc.Close()
	if buf.String() != "hello" {
		t.Errorf("content %q", buf.String())
	}
	var keys []string
	for info, err := range pre.List(ctx, "") {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, info.Key)
	}
	if len(keys) != 1 || keys[0] != "inside/k" {
		t.Errorf("prefixed List = %v, want [inside/k]", keys)
	}
}
